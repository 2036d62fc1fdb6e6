"""Whether a key may start a turn now (admission) and what the turn used (charge).

Checked before any provider is called, so a refused turn costs nothing and stores nothing:

* ``budget_usd``: the key's spend as the database records it, read with the key itself when
  its credential is checked (``Limits.spent_usd``; the database adds each call's cost to it in
  the transaction that stores the call), so it holds across replicas and restarts (402).
  Turns already in flight may carry a key past its budget by their own cost.
* ``token_limit_tpm``: tokens recorded in the key's current one-minute window; a turn is
  admitted while the window is under the limit, and its tokens are charged once recorded, so
  a turn in flight may carry a key past the limit by its own size (429).
* ``rate_limit_rpm``: turns in the key's current window, counted by an atomic take (429).

Windows are fixed one-minute windows opened by a key's first use (``RateLimiter``): Redis
when several replicas share the counters, the process otherwise. The checks run cheapest
refusal first and the turn slot is taken last, so a refused turn uses up no slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from src.domain.entities import CallRecord
from src.domain.errors import BudgetExceeded, RateLimited
from src.domain.identity import Limits

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Window:
    """A counter's state after a take: whether it was taken, the count, seconds to reset."""

    taken: bool
    count: int
    reset_s: float


class RateLimiter(Protocol):
    async def take(self, key: str, amount: int, limit: int | None, window_s: float) -> Window:
        """Atomically adds ``amount`` to ``key``'s window unless the window is already at
        ``limit`` or would pass it (``None``: no limit). ``amount`` 0 only reads; a window
        opens at its first non-zero take and lasts ``window_s``."""
        ...


@dataclass(frozen=True, slots=True)
class Quota:
    """One limit as the ``X-RateLimit-*`` headers state it."""

    name: str
    limit: int
    remaining: int
    reset_s: float


class Admission:
    def __init__(self, limiter: RateLimiter, *, prefix: str = "") -> None:
        self._limiter = limiter
        self._prefix = prefix

    async def admit(self, key_id: str | None, limits: Limits) -> None:
        """Raises ``BudgetExceeded`` or ``RateLimited``; otherwise takes one turn slot."""
        if key_id is None:
            return
        if limits.budget_usd is not None and limits.spent_usd >= limits.budget_usd:
            raise BudgetExceeded(key_id, limits.budget_usd, limits.spent_usd)
        if limits.token_limit_tpm is not None:
            tokens = await self._take(key_id, "tokens", 0, limits.token_limit_tpm)
            if not tokens.taken:
                raise RateLimited(key_id, "token_limit_tpm", tokens.reset_s)
        if limits.rate_limit_rpm is not None:
            turns = await self._take(key_id, "turns", 1, limits.rate_limit_rpm)
            if not turns.taken:
                raise RateLimited(key_id, "rate_limit_rpm", turns.reset_s)

    async def charge(self, key_id: str | None, limits: Limits, calls: Sequence[CallRecord]) -> None:
        """Adds the tokens of a turn's recorded calls to the key's token window."""
        tokens = sum(call.usage.total_tokens for call in calls)
        if key_id is not None and limits.token_limit_tpm is not None and tokens > 0:
            await self._take(key_id, "tokens", tokens, None)

    async def quotas(self, key_id: str, limits: Limits) -> list[Quota]:
        """The key's windows as they stand, turns first, for the response headers."""
        quotas = []
        for name, limit in (("turns", limits.rate_limit_rpm), ("tokens", limits.token_limit_tpm)):
            if limit is not None:
                window = await self._take(key_id, name, 0, None)
                remaining = max(0, limit - window.count)
                quotas.append(Quota(name, limit, remaining, window.reset_s))
        return quotas

    async def _take(self, key_id: str, name: str, amount: int, limit: int | None) -> Window:
        key = f"{self._prefix}{name}:{key_id}"
        return await self._limiter.take(key, amount, limit, WINDOW_S)
