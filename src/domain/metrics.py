"""Metrics as sums of call records, so session and global totals always reconcile."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from src.domain.entities import CallTotals, Session, SessionStats


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    """One provider's share: of a session's turns, or of every call globally."""

    calls: int = 0
    failures: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_s_sum: float = 0.0

    @property
    def successes(self) -> int:
        return self.calls - self.failures

    @property
    def average_latency_s(self) -> float:
        """Over every call, failed ones included: a slow failure is still time spent."""
        return self.latency_s_sum / self.calls if self.calls else 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.calls if self.calls else 1.0

    def plus(self, totals: CallTotals) -> ProviderUsage:
        return ProviderUsage(
            calls=self.calls + totals.calls,
            failures=self.failures + totals.failures,
            tokens=self.tokens + totals.tokens,
            cost=self.cost + totals.cost,
            latency_s_sum=self.latency_s_sum + totals.latency_s_sum,
        )


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    session: Session
    input_tokens: int
    output_tokens: int
    total_cost: Decimal
    calls_with_unknown_cost: int
    summary_tokens: int
    summary_cost: Decimal
    average_response_time: float
    last_summary_at: datetime | None
    by_provider: dict[str, ProviderUsage] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def providers_used(self) -> list[str]:
        return sorted(self.by_provider)


@dataclass(frozen=True, slots=True)
class GlobalUsage:
    providers: dict[str, ProviderUsage]
    sessions: SessionStats


def session_metrics(
    session: Session, totals: Sequence[CallTotals], last_summary_at: datetime | None
) -> SessionMetrics:
    """A session's metrics; totals include summarization calls, per SPEC §3."""
    turns = [t for t in totals if t.kind == "turn"]
    summaries = [t for t in totals if t.kind == "summary"]
    by_provider: dict[str, ProviderUsage] = {}
    for t in turns:
        by_provider[t.provider] = by_provider.get(t.provider, ProviderUsage()).plus(t)
    calls = sum(t.calls for t in turns)
    return SessionMetrics(
        session=session,
        input_tokens=sum(t.input_tokens for t in totals),
        output_tokens=sum(t.output_tokens for t in totals),
        total_cost=_sum_cost(totals),
        calls_with_unknown_cost=sum(t.calls_with_unknown_cost for t in totals),
        summary_tokens=sum(t.tokens for t in summaries),
        summary_cost=_sum_cost(summaries),
        average_response_time=sum(t.latency_s_sum for t in turns) / calls if calls else 0.0,
        last_summary_at=last_summary_at,
        by_provider=by_provider,
    )


def provider_usage(totals: Iterable[CallTotals]) -> dict[str, ProviderUsage]:
    """Every call per provider, turns and summaries alike, failures included."""
    usage: dict[str, ProviderUsage] = {}
    for t in totals:
        usage[t.provider] = usage.get(t.provider, ProviderUsage()).plus(t)
    return usage


def _sum_cost(totals: Iterable[CallTotals]) -> Decimal:
    return sum((t.cost for t in totals), Decimal(0))
