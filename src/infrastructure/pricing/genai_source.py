"""Prices from ``genai-prices``, the maintained data set of model prices, as price schedules.

The data set names providers its own way and models by match rules; it prices a model with
conditional prices (the last active one wins, else the first) whose constraints are start
dates or daily windows, and rates that may be tiered by the request's input size. This module
turns one model's entry into a ``PriceSchedule`` of the domain's ``ModelPrice`` values, and
leaves the data set's other dimensions aside: service-tier and batch variants (the gateway
calls the standard tier), and per-request or per-search fees (it makes no such calls).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import genai_prices
from genai_prices import data_snapshot
from genai_prices import types as genai

from src.domain.pricing import ModelPrice, Rate, Tiered
from src.infrastructure.pricing.schedule import Period, PriceSchedule

#: Our provider names -> the data set's provider ids.
PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "mistral": "mistral",
    "grok": "x-ai",
    "deepseek": "deepseek",
    "kimi": "moonshotai",
}
SOURCE = f"genai-prices {genai_prices.__version__}"


class GenaiPrices:
    """The data set's providers that we call, by our provider names."""

    def __init__(self) -> None:
        snapshot = data_snapshot.get_snapshot()
        by_id = {provider.id: provider for provider in snapshot.providers}
        self._providers = {ours: by_id[theirs] for ours, theirs in PROVIDER_IDS.items()}

    def schedules(self) -> Iterator[tuple[str, str, PriceSchedule]]:
        """Every priced model of every provider we call, under the data set's own model ids."""
        for name, provider in self._providers.items():
            for model in provider.models:
                if (schedule := _schedule(model)) is not None:
                    yield name, model.id, schedule

    def find(self, provider: str, model: str) -> PriceSchedule | None:
        """The schedule of ``model`` as a request names it (dated or aliased names too)."""
        entry = self._providers.get(provider)
        found = entry.find_model(model) if entry else None
        return _schedule(found) if found else None


def _schedule(model: genai.ModelInfo) -> PriceSchedule | None:
    if isinstance(model.prices, genai.ModelPrice):
        price = _price(model.prices)
        return PriceSchedule(price, SOURCE) if price else None
    conditionals = [(c.constraint, _price(c.prices)) for c in model.prices]
    if not conditionals or conditionals[0][1] is None:
        return None
    periods = tuple(
        _period(constraint, price)
        for constraint, price in reversed(conditionals)
        if price is not None and constraint is not None
    )
    base = conditionals[0][1]
    return PriceSchedule(base, SOURCE, periods)


def _period(
    constraint: genai.StartDateConstraint | genai.TimeOfDateConstraint, price: ModelPrice
) -> Period:
    if isinstance(constraint, genai.StartDateConstraint):
        return Period(price, starts=constraint.start_date)
    return Period(price, window=(_utc(constraint.start_time), _utc(constraint.end_time)))


def _utc(value: time) -> time:
    """A time of day as naive UTC (the data set's naive times are UTC already)."""
    if value.tzinfo is None:
        return value
    return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).time()


def _price(price: genai.ModelPrice) -> ModelPrice | None:
    """Token prices only; ``None`` for a model not billed per input token (images, audio)."""
    values = price.__dict__
    base = _rate(values.get("input_mtok"))
    if base is None:
        return None
    output = _rate(values.get("output_mtok"))
    return ModelPrice(
        input=base,
        cached_input=_rate(values.get("cache_read_mtok")) or base,
        output=output if output is not None else Decimal(0),
        cache_write=_rate(values.get("cache_write_mtok")),
    )


def _rate(value: Decimal | genai.TieredPrices | None) -> Rate | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Tiered(value.base, tuple((tier.start, tier.price) for tier in value.tiers))
