"""Process metrics for Prometheus, and the text exposition of the global usage snapshot.

Request counters live in this process (each replica is scraped on its own); usage figures
(tokens, cost, sessions) come from the database so every replica reports the same totals.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from src.domain.metrics import GlobalUsage

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestMetrics:
    """HTTP requests served by this process."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "orchestrator_http_requests",
            "HTTP requests served, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "orchestrator_http_request_duration_seconds",
            "Time to serve an HTTP request, by route.",
            ["route"],
            registry=self.registry,
        )
        self.requests_total = 0
        self.errors_total = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests_total += 1
        if status >= 500:
            self.errors_total += 1
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    @property
    def uptime_s(self) -> float:
        return time.time() - self.started_at

    @property
    def errors_rate(self) -> float:
        return self.errors_total / self.requests_total if self.requests_total else 0.0


class _SnapshotCollector(Collector):
    def __init__(self, usage: GlobalUsage, uptime_s: float) -> None:
        self._usage = usage
        self._uptime_s = uptime_s

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        calls = CounterMetricFamily(
            "orchestrator_provider_calls",
            "Provider calls, by outcome.",
            labels=["provider", "outcome"],
        )
        tokens = CounterMetricFamily(
            "orchestrator_provider_tokens", "Tokens used, by provider.", labels=["provider"]
        )
        cost = CounterMetricFamily(
            "orchestrator_provider_cost_usd", "Known cost in USD, by provider.", labels=["provider"]
        )
        latency = GaugeMetricFamily(
            "orchestrator_provider_avg_latency_seconds",
            "Mean provider call latency.",
            labels=["provider"],
        )
        for name, usage in sorted(self._usage.providers.items()):
            calls.add_metric([name, "success"], usage.successes)
            calls.add_metric([name, "failure"], usage.failures)
            tokens.add_metric([name], usage.tokens)
            cost.add_metric([name], float(usage.cost))
            latency.add_metric([name], usage.average_latency_s)
        yield from (calls, tokens, cost, latency)
        stats = self._usage.sessions
        yield GaugeMetricFamily(
            "orchestrator_sessions_active", "Active sessions.", value=stats.active
        )
        yield GaugeMetricFamily("orchestrator_sessions", "Sessions stored.", value=stats.total)
        yield GaugeMetricFamily(
            "orchestrator_uptime_seconds", "Seconds since this process started.", self._uptime_s
        )


def render_prometheus(requests: RequestMetrics, usage: GlobalUsage) -> bytes:
    """The Prometheus text exposition of this process's requests and the usage snapshot."""
    snapshot = CollectorRegistry()
    snapshot.register(_SnapshotCollector(usage, requests.uptime_s))
    return generate_latest(requests.registry) + generate_latest(snapshot)
