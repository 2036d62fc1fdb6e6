"""Cost of a call: tokens times the model's price per million tokens, exact to the digit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from src.domain.llm import TokenUsage

_PER_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens. Cache writes cost ``cache_write`` where the provider bills them
    differently, else the plain input price."""

    input: Decimal
    cached_input: Decimal
    output: Decimal
    cache_write: Decimal | None = None


def cost_of(usage: TokenUsage, price: ModelPrice | None) -> Decimal | None:
    """The USD cost of ``usage``; ``None`` (unknown), never 0, when the price is unknown."""
    if price is None:
        return None
    uncached = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
    write_price = price.cache_write if price.cache_write is not None else price.input
    micro = (
        max(uncached, 0) * price.input
        + usage.cached_input_tokens * price.cached_input
        + usage.cache_write_tokens * write_price
        + usage.output_tokens * price.output
    )
    return micro / _PER_MILLION
