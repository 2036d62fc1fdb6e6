"""Fixed-window counters in this process's memory: limits hold per replica only."""

from __future__ import annotations

import time
from collections.abc import Callable

from src.domain.admission import Window

# Expired windows are dropped once this many are held, so idle keys cost no memory for long.
_PRUNE_AT = 10_000


class InProcessRateLimiter:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._windows: dict[str, tuple[int, float]] = {}

    async def take(self, key: str, amount: int, limit: int | None, window_s: float) -> Window:
        """Atomic as it is: nothing awaits between the read and the write."""
        now = self._monotonic()
        count, ends_at = self._windows.get(key, (0, 0.0))
        if ends_at <= now:
            count, ends_at = 0, now + window_s
        if limit is not None and (count >= limit or count + amount > limit):
            return Window(False, count, ends_at - now)
        if amount:
            if len(self._windows) >= _PRUNE_AT:
                self._windows = {k: w for k, w in self._windows.items() if w[1] > now}
            count += amount
            self._windows[key] = (count, ends_at)
        return Window(True, count, ends_at - now)
