"""The read side for analysts: figures over a period, series over time, sessions with their
totals, and what a session page shows. Reads apart from writes: the turn's write path never
touches this module, and the adapter behind :class:`AnalyticsReader` may use SQL shaped for
the dashboard's pages.

Every figure is a sum over the provider call records, like the global and session metrics,
so the three always reconcile. ``tokens`` and ``cost`` count every call (turns and
summaries, failed ones included); ``turns``, ``errors`` and the latency percentiles count the
calls made for turns only (a fallback is a second call of the same turn). ``calls`` counts
every record, so it equals the sum of ``requests`` in ``GET /api/metrics``.

``owner`` is a tenant; ``None`` means every tenant (the operator's view).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from src.domain.entities import Session, SummaryVersion
from src.domain.errors import InvalidInput

Bucket = Literal["minute", "hour", "day"]
GroupBy = Literal["provider", "model", "tenant"]
SessionSort = Literal["last_activity", "created_at", "cost", "tokens"]

BUCKET_WIDTH: dict[Bucket, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
#: The most buckets one series may span, so a request cannot ask for millions of points.
MAX_BUCKETS = 5000


@dataclass(frozen=True, slots=True)
class Period:
    """Half-open ``[since, until)``; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> Period:
        if self.since and self.until and self.since >= self.until:
            raise InvalidInput("since must be before until", details={"field": "since"})
        return self

    def check_buckets(self, bucket: Bucket) -> None:
        """Refuses a closed period that would hold more than ``MAX_BUCKETS`` buckets."""
        if self.since is None or self.until is None:
            return
        count = (self.until - self.since) / BUCKET_WIDTH[bucket]
        if count > MAX_BUCKETS:
            raise InvalidInput(
                f"the period holds {int(count)} {bucket} buckets, more than {MAX_BUCKETS}: "
                "choose a wider bucket or a shorter period",
                details={"field": "bucket", "limit": MAX_BUCKETS},
            )


@dataclass(frozen=True, slots=True)
class Figures:
    """Sums over call records, and latency percentiles (seconds) of the turn calls."""

    calls: int = 0
    turns: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    errors: int = 0
    latency_p50: float | None = None
    latency_p95: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.turns if self.turns else 0.0


@dataclass(frozen=True, slots=True)
class Point:
    start: datetime
    figures: Figures


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """A page of the sessions table. ``search`` matches a session id or user id by prefix
    (an index serves both); ``provider`` keeps sessions with a call to that provider;
    the period applies to the last activity."""

    owner: str | None
    search: str | None = None
    provider: str | None = None
    period: Period = Period()
    sort: SessionSort = "last_activity"
    descending: bool = True
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SessionTotals:
    """A session with the sums of its calls."""

    session: Session
    tokens: int
    cost: Decimal
    calls: int
    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TurnCall:
    """One provider call of a session, for its per-turn chart."""

    created_at: datetime
    kind: str
    provider: str
    model: str
    tokens: int
    cost: Decimal | None
    latency_s: float
    ok: bool


@dataclass(frozen=True, slots=True)
class SessionTrail:
    """What the session page adds to the history: every summary fold and every call."""

    summaries: tuple[SummaryVersion, ...]
    calls: tuple[TurnCall, ...]


class AnalyticsReader(Protocol):
    async def overview(self, owner: str | None, period: Period) -> Figures: ...

    async def timeseries(
        self, owner: str | None, period: Period, bucket: Bucket, group_by: GroupBy
    ) -> Sequence[Series]:
        """One series per key, points oldest first, only buckets holding a call."""
        ...

    async def sessions(self, query: SessionQuery) -> tuple[Sequence[SessionTotals], int]:
        """One page of the matching sessions, and how many match."""
        ...

    def export(self, query: SessionQuery) -> AsyncIterator[SessionTotals]:
        """Every matching session (``limit``/``offset`` ignored), read page by page."""
        ...

    async def trail(self, owner: str | None, session_id: str) -> SessionTrail | None:
        """``None`` when the session does not exist for this owner."""
        ...
