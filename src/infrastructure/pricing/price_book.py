"""The price book: model prices by date and tier, from ``genai-prices`` plus local overrides.

Most prices come from the maintained ``genai-prices`` data set (``genai_source``), with their
validity dates and long-context tiers. What it lacks (Qwen, local runtimes) or gets wrong
lives in versioned JSON override files in ``prices/``, one per provider, each citing its
source and date; an override wins over the data set for the models it lists. A file looks
like::

    {"provider": "qwen", "currency": "USD", "unit": "per_million_tokens",
     "source": "https://...", "as_of": "2026-11-01",
     "models": {"qwen-max": {"input": "1.60", "cached_input": "0.32", "output": "6.40"}}}

Prices are strings so they load as exact ``Decimal`` values; a model may add
``"cache_write"``. A provider whose models all cost nothing (a local runtime) says
``"free": true`` instead of listing models. A model with no price is ``None``: its cost is
unknown, never 0.

Everything is compiled into one dictionary at start-up; a model named in a way the data set
matches by rule (a dated or aliased name) is resolved once and then cached, so pricing a call
stays a dictionary lookup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from src.domain.pricing import ModelPrice
from src.infrastructure.pricing.genai_source import GenaiPrices
from src.infrastructure.pricing.schedule import PriceSchedule

_FREE = ModelPrice(input=Decimal(0), cached_input=Decimal(0), output=Decimal(0))
#: The model name ``entries`` shows for a free provider: every model.
ANY_MODEL = "*"
#: Names resolved by rule and cached; past this, misses are resolved each time (bounded memory
#: whatever model names requests make up).
MAX_RESOLVED = 4096


@dataclass(frozen=True, slots=True)
class PriceTable:
    """One override file."""

    provider: str
    source: str
    as_of: str
    models: Mapping[str, ModelPrice]
    free: bool = False


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One row of the price listing (``pricing`` CLI command)."""

    provider: str
    model: str
    price: ModelPrice
    source: str
    since: str


class DatedPriceBook:
    """The domain's ``PriceBook``: the price of a model at an instant."""

    def __init__(self, overrides: Iterable[PriceTable], data_set: GenaiPrices | None) -> None:
        self._data_set = data_set
        self._schedules: dict[tuple[str, str], PriceSchedule | None] = {}
        if data_set is not None:
            for provider, model, schedule in data_set.schedules():
                self._schedules[(provider, model)] = schedule
        self._free: dict[str, str] = {}
        for table in overrides:
            if table.free:
                self._free[table.provider] = table.source
            for model, price in table.models.items():
                self._schedules[(table.provider, model)] = PriceSchedule(
                    price, f"{table.source} (as of {table.as_of})"
                )
        self._compiled = len(self._schedules)

    @classmethod
    def load(cls, overrides: Path | None = None, *, data_set: bool = True) -> DatedPriceBook:
        """The data set plus every ``*.json`` in ``overrides`` (default: ``prices/``)."""
        folder: Traversable = overrides or resources.files(__package__ or __name__) / "prices"
        files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=_name)
        tables = [_table(f.name, json.loads(f.read_text(encoding="utf-8"))) for f in files]
        return cls(tables, GenaiPrices() if data_set else None)

    def price_of(self, provider: str, model: str, at: datetime | None = None) -> ModelPrice | None:
        schedule = self._schedule(provider, model)
        return schedule.at(at or datetime.now(UTC)) if schedule else None

    def entries(
        self, models: Mapping[str, Sequence[str]], at: datetime | None = None
    ) -> list[PriceEntry]:
        """The prices in force at ``at`` of ``models`` (by provider), override models too."""
        when = at or datetime.now(UTC)
        wanted = {(p, m) for p, names in models.items() for m in names}
        wanted |= {
            key for key, s in self._schedules.items() if s and "genai-prices" not in s.source
        }
        rows = [PriceEntry(p, ANY_MODEL, _FREE, source, "-") for p, source in self._free.items()]
        for provider, model in sorted(wanted):
            if provider in self._free or (schedule := self._schedule(provider, model)) is None:
                continue
            rows.append(
                PriceEntry(
                    provider, model, schedule.at(when), schedule.source, schedule.since(when)
                )
            )
        return sorted(rows, key=lambda row: (row.provider, row.model))

    def _schedule(self, provider: str, model: str) -> PriceSchedule | None:
        key = (provider, model)
        try:
            return self._schedules[key]
        except KeyError:
            pass
        if provider in self._free:
            schedule: PriceSchedule | None = PriceSchedule(_FREE, self._free[provider])
        else:
            schedule = self._data_set.find(provider, model) if self._data_set else None
        if len(self._schedules) < self._compiled + MAX_RESOLVED:
            self._schedules[key] = schedule
        return schedule


def _name(file: Traversable) -> str:
    return file.name


def _table(filename: str, data: Any) -> PriceTable:
    """Parses one file, refusing anything that would make a cost silently wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"price file {filename}: expected a JSON object")
    if data.get("currency") != "USD" or data.get("unit") != "per_million_tokens":
        raise ValueError(f"price file {filename}: prices must be USD per_million_tokens")
    free = data.get("free") is True
    models = data.get("models", {})
    if not isinstance(models, dict) or (not free and not models):
        raise ValueError(f"price file {filename}: 'models' must name at least one model")
    return PriceTable(
        provider=_text(filename, data, "provider"),
        source=_text(filename, data, "source"),
        as_of=_text(filename, data, "as_of"),
        models={model: _price(f"{filename}: {model}", row) for model, row in models.items()},
        free=free,
    )


def _price(where: str, row: Any) -> ModelPrice:
    if not isinstance(row, dict):
        raise ValueError(f"price file {where}: expected an object of prices")
    cache_write = row.get("cache_write")
    return ModelPrice(
        input=_decimal(where, row.get("input")),
        cached_input=_decimal(where, row.get("cached_input")),
        output=_decimal(where, row.get("output")),
        cache_write=None if cache_write is None else _decimal(where, cache_write),
    )


def _decimal(where: str, value: Any) -> Decimal:
    """A price written as a string; floats are refused because they are not exact."""
    if not isinstance(value, str):
        raise ValueError(f"price file {where}: prices are strings, got {value!r}")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"price file {where}: {value!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"price file {where}: {value!r} is not a price")
    return price


def _text(filename: str, data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"price file {filename}: {key!r} is required")
    return value
