"""One record per provider call, succeeded or failed: the unit every metric sums over."""

from __future__ import annotations

import uuid
from decimal import Decimal

from src.domain.entities import CallKind, CallRecord
from src.domain.errors import ProviderError
from src.domain.llm import TokenUsage
from src.domain.ports import Clock, PriceBook
from src.domain.pricing import cost_of


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class CallAccountant:
    """Prices calls and writes their records; ``started`` is a ``Clock.monotonic`` reading."""

    def __init__(self, prices: PriceBook, clock: Clock) -> None:
        self._prices = prices
        self._clock = clock

    def succeeded(
        self,
        session_id: str | None,
        kind: CallKind,
        provider: str,
        model: str,
        usage: TokenUsage,
        started: float,
    ) -> CallRecord:
        cost = cost_of(usage, self._prices.price_of(provider, model))
        return self._record(session_id, kind, provider, model, started, usage, cost)

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
        return self._record(
            session_id, kind, provider, model, started, TokenUsage(), Decimal(0), error
        )

    def _record(
        self,
        session_id: str | None,
        kind: CallKind,
        provider: str,
        model: str,
        started: float,
        usage: TokenUsage,
        cost: Decimal | None,
        error: ProviderError | None = None,
    ) -> CallRecord:
        return CallRecord(
            id=new_id("call"),
            session_id=session_id,
            kind=kind,
            provider=provider,
            model=model,
            usage=usage,
            cost=cost,
            latency_s=self._clock.monotonic() - started,
            created_at=self._clock.now(),
            ok=error is None,
            error_code=None if error is None else type(error).__name__,
        )
