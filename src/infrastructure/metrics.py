"""Process metrics for Prometheus: counters and histograms updated as things happen.

Everything here lives in this process and is updated per request and per provider call
(``CallMetrics`` is the domain's ``CallObserver``), so a scrape only formats what is in
memory: it costs the same with ten call records stored or a million. Each replica is scraped
on its own and Prometheus sums them; the database-wide figures are ``GET /api/metrics``.
Names, labels and example queries: README, "Prometheus".
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from src.domain.entities import CallRecord

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds; provider calls and turns run from tens of milliseconds to minutes.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
#: Distinct models labelled per provider; more (names made up by requests) count as "other".
MAX_MODELS_PER_PROVIDER = 64
OTHER_MODEL = "other"

M = TypeVar("M", Counter, Histogram)


class _Children(Generic[M]):
    """A labelled metric's children by their label values, looked up in a dict: ``labels()``
    checks and converts its arguments and takes a lock at every call, seven times a turn
    (eleven with a summary), about 1 % of a turn's instructions. It keeps only children the
    metric itself holds, so it is bounded as the metric's labels are."""

    __slots__ = ("_kept", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._kept: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._kept.get(values)
        if child is None:
            child = self._kept[values] = self._metric.labels(*values)
        return child


class RequestMetrics:
    """HTTP requests served by this process; its ``registry`` holds every metric here."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.started_at = time.time()
        self.registry = registry or CollectorRegistry()
        self._requests = _Children(
            Counter(
                "orchestrator_http_requests",
                "HTTP requests served, by method, route and status.",
                ["method", "route", "status"],
                registry=self.registry,
            )
        )
        self._latency = _Children(
            Histogram(
                "orchestrator_http_request_duration_seconds",
                "Time to serve an HTTP request, by route.",
                ["route"],
                registry=self.registry,
            )
        )
        uptime = Gauge(
            "orchestrator_uptime_seconds",
            "Seconds since this process started.",
            registry=self.registry,
        )
        uptime.set_function(lambda: self.uptime_s)
        self.requests_total = 0
        self.errors_total = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests_total += 1
        if status >= 500:
            self.errors_total += 1
        self._requests(method, route, str(status)).inc()
        self._latency(route).observe(seconds)

    @property
    def uptime_s(self) -> float:
        return time.time() - self.started_at

    @property
    def errors_rate(self) -> float:
        return self.errors_total / self.requests_total if self.requests_total else 0.0


class CallMetrics:
    """Provider calls and turns, by provider and model (the domain's ``CallObserver``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["provider", "model"]
        self._turns = _Children(
            Histogram(
                "orchestrator_turn_duration_seconds",
                "Time to run a turn, memory and storage included, by outcome (ok, interrupted).",
                [*labels, "outcome"],
                buckets=DURATION_BUCKETS,
                registry=registry,
            )
        )
        self._calls = _Children(
            Histogram(
                "orchestrator_provider_call_duration_seconds",
                "Time of one provider call, retries included, by kind (turn, summary) and outcome.",
                [*labels, "kind", "outcome"],
                buckets=DURATION_BUCKETS,
                registry=registry,
            )
        )
        self._tokens = _Children(
            Counter(
                "orchestrator_tokens",
                "Tokens billed, by type: input (all of it), cached_input and cache_write (parts of"
                " input), output, reasoning (part of output).",
                [*labels, "kind", "type"],
                registry=registry,
            )
        )
        self._cost = _Children(
            Counter(
                "orchestrator_cost_usd",
                "Known cost in USD, by kind.",
                [*labels, "kind"],
                registry=registry,
            )
        )
        self._unpriced = _Children(
            Counter(
                "orchestrator_unpriced_calls",
                "Successful calls of a model with no known price (their cost is not in the total).",
                labels,
                registry=registry,
            )
        )
        self._errors = _Children(
            Counter(
                "orchestrator_provider_errors",
                "Failed provider calls, by error code.",
                [*labels, "code"],
                registry=registry,
            )
        )
        self._models: dict[str, set[str]] = {}

    def call_recorded(self, record: CallRecord) -> None:
        provider, model = record.provider, self._model(record.provider, record.model)
        outcome = "ok" if record.ok else "error"
        self._calls(provider, model, record.kind, outcome).observe(record.latency_s)
        if not record.ok:
            self._errors(provider, model, record.error_code or "unknown").inc()
            return
        usage = record.usage
        for kind, count in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cached_input", usage.cached_input_tokens),
            ("cache_write", usage.cache_write_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if count:
                self._tokens(provider, model, record.kind, kind).inc(count)
        if record.cost is None:
            self._unpriced(provider, model).inc()
        else:
            self._cost(provider, model, record.kind).inc(float(record.cost))

    def turn_finished(self, provider: str, model: str, seconds: float, interrupted: bool) -> None:
        outcome = "interrupted" if interrupted else "ok"
        self._turns(provider, self._model(provider, model), outcome).observe(seconds)

    def _model(self, provider: str, model: str) -> str:
        """The model's label, bounded in number per provider."""
        seen = self._models.setdefault(provider, set())
        if model in seen:
            return model
        if len(seen) >= MAX_MODELS_PER_PROVIDER:
            return OTHER_MODEL
        seen.add(model)
        return model


def render_prometheus(requests: RequestMetrics) -> bytes:
    """The Prometheus text exposition of this process's metrics."""
    return generate_latest(requests.registry)
