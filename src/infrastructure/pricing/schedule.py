"""A model's prices over time: which ``ModelPrice`` is in force at a given instant.

Prices change on dates (a launch price that doubles, a cut) and some vary by the hour of day
(off-peak discounts). A schedule is a few ``Period`` values in precedence order, compiled once
at start-up, so finding the price of a call is a dictionary lookup plus a check or two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from src.domain.pricing import ModelPrice


@dataclass(frozen=True, slots=True)
class Period:
    """``price`` applies from ``starts`` (a UTC date) on, within the daily ``window`` (UTC,
    start inclusive, end exclusive, may wrap past midnight); ``None`` means no bound."""

    price: ModelPrice
    starts: date | None = None
    window: tuple[time, time] | None = None

    def active(self, at: datetime) -> bool:
        utc = at.astimezone(UTC)
        if self.starts is not None and utc.date() < self.starts:
            return False
        if self.window is None:
            return True
        start, end = self.window
        now = utc.time()
        return (start <= now < end) if start <= end else (now >= start or now < end)


@dataclass(frozen=True, slots=True)
class PriceSchedule:
    """``periods`` with the one that wins first; ``base`` when none is active."""

    base: ModelPrice
    source: str
    periods: tuple[Period, ...] = ()

    def at(self, when: datetime) -> ModelPrice:
        for period in self.periods:
            if period.active(when):
                return period.price
        return self.base

    def since(self, when: datetime) -> str:
        """When the price in force at ``when`` started, as far as the schedule says."""
        for period in self.periods:
            if period.active(when):
                return period.starts.isoformat() if period.starts else "daily window"
        return "-"
