"""One record per provider call, succeeded or failed: the unit every metric sums over."""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from decimal import Decimal

from src.domain.entities import CallKind, CallRecord
from src.domain.errors import ProviderError
from src.domain.llm import TokenUsage
from src.domain.ports import CallObserver, Clock, PriceBook
from src.domain.pricing import cost_of


def new_id(prefix: str) -> str:
    """``prefix_`` and 32 hex digits: the time in milliseconds (12 digits), then 80 random
    bits, as in a UUIDv7 (built as text: a UUID object costs three times as long, four or
    five times a turn).

    Ids made later sort after those made before (to the millisecond), so a new row's key goes
    at the end of its primary-key index, on a page already in memory, instead of on a random
    page of it: with a million rows stored, random keys cost a turn 6.4 reads of the file and
    a fifth more WAL (docs/benchmarks.md, round nine). The time in an id is nothing more than
    that ordering; nothing reads it back.
    """
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class CallAccountant:
    """Prices calls and writes their records; ``started`` is a ``Clock.monotonic`` reading.

    A call is billed at the price in force when it ended, the time its record carries. Every
    record made, and every turn finished, is reported to the ``observer`` (live metrics).
    """

    def __init__(
        self, prices: PriceBook, clock: Clock, observer: CallObserver | None = None
    ) -> None:
        self._prices = prices
        self._clock = clock
        self._observer = observer or _Unobserved()

    def turn_finished(self, provider: str, model: str, seconds: float, interrupted: bool) -> None:
        self._observer.turn_finished(provider, model, seconds, interrupted)

    def succeeded(
        self,
        session_id: str | None,
        kind: CallKind,
        provider: str,
        model: str,
        usage: TokenUsage,
        started: float,
    ) -> CallRecord:
        now = self._clock.now()
        cost = cost_of(usage, self._prices.price_of(provider, model, now))
        return self._record(session_id, kind, provider, model, started, now, usage, cost)

    def failed(
        self,
        session_id: str | None,
        kind: CallKind,
        provider: str,
        model: str,
        error: ProviderError,
        started: float,
    ) -> CallRecord:
        """A failed call costs nothing and carries the error's type as its code."""
        now = self._clock.now()
        nothing = TokenUsage()
        return self._record(
            session_id, kind, provider, model, started, now, nothing, Decimal(0), error
        )

    def _record(
        self,
        session_id: str | None,
        kind: CallKind,
        provider: str,
        model: str,
        started: float,
        now: datetime,
        usage: TokenUsage,
        cost: Decimal | None,
        error: ProviderError | None = None,
    ) -> CallRecord:
        record = CallRecord(
            id=new_id("call"),
            session_id=session_id,
            kind=kind,
            provider=provider,
            model=model,
            usage=usage,
            cost=cost,
            latency_s=self._clock.monotonic() - started,
            created_at=now,
            ok=error is None,
            error_code=None if error is None else type(error).__name__,
        )
        self._observer.call_recorded(record)
        return record


class _Unobserved:
    """The observer when nobody watches."""

    def call_recorded(self, record: CallRecord) -> None:
        """Nothing to do."""

    def turn_finished(self, provider: str, model: str, seconds: float, interrupted: bool) -> None:
        """Nothing to do."""
