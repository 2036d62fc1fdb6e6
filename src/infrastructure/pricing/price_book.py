"""Model prices from versioned JSON files, one per provider, each citing its source and date.

A file looks like::

    {"provider": "openai", "currency": "USD", "unit": "per_million_tokens",
     "source": "https://openai.com/api/pricing/", "as_of": "2026-11-01",
     "models": {"gpt-4o": {"input": "2.50", "cached_input": "1.25", "output": "10.00"}}}

Prices are strings so they load as exact ``Decimal`` values; a model may add
``"cache_write"``. A provider whose models all cost nothing (a local runtime) says
``"free": true`` instead of listing models. A model not in its file has no price (``None``):
its cost is unknown, never 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from src.domain.pricing import ModelPrice

_FREE = ModelPrice(input=Decimal(0), cached_input=Decimal(0), output=Decimal(0))
#: The model name ``entries`` shows for a free provider: every model.
ANY_MODEL = "*"


@dataclass(frozen=True, slots=True)
class PriceTable:
    """One provider's file."""

    provider: str
    source: str
    as_of: str
    models: Mapping[str, ModelPrice]
    free: bool = False

    def price_of(self, model: str) -> ModelPrice | None:
        return _FREE if self.free else self.models.get(model)


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One row of the price listing (``pricing`` CLI command)."""

    provider: str
    model: str
    price: ModelPrice
    source: str
    as_of: str


class JsonPriceBook:
    """The domain's ``PriceBook`` over the price files."""

    def __init__(self, tables: Iterable[PriceTable]) -> None:
        self._tables = {table.provider: table for table in tables}

    @classmethod
    def load(cls, directory: Path | None = None) -> JsonPriceBook:
        """Every ``*.json`` in ``directory`` (default: this package's ``prices`` folder)."""
        folder: Traversable = directory or resources.files(__package__ or __name__) / "prices"
        files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=_name)
        return cls(_table(f.name, json.loads(f.read_text(encoding="utf-8"))) for f in files)

    def price_of(self, provider: str, model: str) -> ModelPrice | None:
        table = self._tables.get(provider)
        return table.price_of(model) if table else None

    def entries(self) -> list[PriceEntry]:
        rows: list[PriceEntry] = []
        for table in sorted(self._tables.values(), key=lambda t: t.provider):
            models = {ANY_MODEL: _FREE} if table.free else table.models
            rows.extend(
                PriceEntry(table.provider, model, price, table.source, table.as_of)
                for model, price in sorted(models.items())
            )
        return rows


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
