"""Cost of a call: tokens times the model's price per million tokens, exact to the digit.

A price may rise with the size of the request (long-context tiers): ``Tiered`` rates use the
"cliff" model every provider bills with, where a request whose input passes a tier's threshold
pays that tier's rate on all its tokens, not only on those past the threshold. Which price was
in force when is the price book's business (``PriceBook.price_of`` takes the call's time).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from src.domain.llm import TokenUsage

_PER_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Tiered:
    """A rate of ``base`` USD per million tokens, and ``(threshold, rate)`` tiers, ascending:
    a request with more than ``threshold`` input tokens pays ``rate``."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()

    def for_input(self, input_tokens: int) -> Decimal:
        for threshold, rate in reversed(self.tiers):
            if input_tokens > threshold:
                return rate
        return self.base

    def __str__(self) -> str:
        steps = ", ".join(f">{threshold:,}: {rate}" for threshold, rate in self.tiers)
        return f"{self.base} ({steps})" if steps else str(self.base)


Rate = Decimal | Tiered


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens. Cache writes cost ``cache_write`` where the provider bills them
    differently, else the plain input price."""

    input: Rate
    cached_input: Rate
    output: Rate
    cache_write: Rate | None = None

    @property
    def tiered(self) -> bool:
        rates = (self.input, self.cached_input, self.output, self.cache_write)
        return any(isinstance(rate, Tiered) for rate in rates)


def _rate(rate: Rate, input_tokens: int) -> Decimal:
    return rate.for_input(input_tokens) if isinstance(rate, Tiered) else rate


def cost_of(usage: TokenUsage, price: ModelPrice | None) -> Decimal | None:
    """The USD cost of ``usage``; ``None`` (unknown), never 0, when the price is unknown."""
    if price is None:
        return None
    size = usage.input_tokens
    uncached = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
    write_price = price.cache_write if price.cache_write is not None else price.input
    micro = (
        max(uncached, 0) * _rate(price.input, size)
        + usage.cached_input_tokens * _rate(price.cached_input, size)
        + usage.cache_write_tokens * _rate(write_price, size)
        + usage.output_tokens * _rate(price.output, size)
    )
    return micro / _PER_MILLION
