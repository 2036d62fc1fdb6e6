"""The JSON price book: exact prices, unknown means None, every listed model priced."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.domain.pricing import ModelPrice
from src.infrastructure.llm_providers.base import ProviderAdapter
from src.infrastructure.llm_providers.registry import PROVIDER_ADAPTERS
from src.infrastructure.pricing.price_book import ANY_MODEL, JsonPriceBook

BOOK = JsonPriceBook.load()


def test_prices_load_as_exact_decimals() -> None:
    assert BOOK.price_of("openai", "gpt-5.4-mini") == ModelPrice(
        input=Decimal("0.75"), cached_input=Decimal("0.075"), output=Decimal("4.50")
    )


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-unknown"), ("nobody", "gpt-5.4"), ("grok", "")]
)
def test_unknown_provider_or_model_has_no_price(provider: str, model: str) -> None:
    assert BOOK.price_of(provider, model) is None


@pytest.mark.parametrize(
    "adapter", [a for a in PROVIDER_ADAPTERS if not a.KEYLESS], ids=lambda a: a.SPEC.name
)
def test_every_known_model_has_a_price(adapter: type[ProviderAdapter]) -> None:
    missing = [m for m in adapter.SPEC.models if BOOK.price_of(adapter.SPEC.name, m) is None]

    assert missing == []
    assert adapter.SPEC.default_model in adapter.SPEC.models


def test_local_models_are_free_whatever_the_model() -> None:
    free = ModelPrice(Decimal(0), Decimal(0), Decimal(0))

    assert BOOK.price_of("ollama", "anything-pulled-locally") == free


def test_entries_cite_source_and_date() -> None:
    entries = BOOK.entries()

    assert {e.provider for e in entries} >= {"openai", "grok", "deepseek", "kimi", "ollama"}
    assert all(e.source.startswith("https://") and e.as_of for e in entries)
    assert any(e.provider == "ollama" and e.model == ANY_MODEL for e in entries)


def write(folder: Path, name: str, data: object) -> None:
    (folder / name).write_text(json.dumps(data), encoding="utf-8")


def table(**overrides: object) -> dict[str, Any]:
    base: dict[str, Any] = {
        "provider": "acme",
        "currency": "USD",
        "unit": "per_million_tokens",
        "source": "https://acme.test/pricing",
        "as_of": "2026-11-01",
        "models": {"a-1": {"input": "3", "cached_input": "0.3", "output": "15"}},
    }
    return {**base, **overrides}


def test_loads_a_directory_with_cache_write_prices(tmp_path: Path) -> None:
    row = {"input": "3", "cached_input": "0.30", "output": "15", "cache_write": "3.75"}
    write(tmp_path, "acme.json", table(models={"a-1": row}))
    (tmp_path / "README.md").write_text("not a price file")

    book = JsonPriceBook.load(tmp_path)

    assert book.price_of("acme", "a-1") == ModelPrice(
        Decimal(3), Decimal("0.30"), Decimal(15), cache_write=Decimal("3.75")
    )
    assert book.price_of("openai", "gpt-5.4") is None


@pytest.mark.parametrize(
    "bad",
    [
        table(models={"a-1": {"input": 3, "cached_input": "0.3", "output": "15"}}),
        table(models={"a-1": {"input": "three", "cached_input": "0.3", "output": "15"}}),
        table(models={"a-1": {"input": "-1", "cached_input": "0.3", "output": "15"}}),
        table(currency="EUR"),
        table(models={}),
        table(source=""),
    ],
    ids=["float", "not-a-number", "negative", "currency", "no-models", "no-source"],
)
def test_refuses_a_file_that_would_make_costs_wrong(tmp_path: Path, bad: dict[str, Any]) -> None:
    write(tmp_path, "acme.json", bad)

    with pytest.raises(ValueError, match=r"acme\.json"):
        JsonPriceBook.load(tmp_path)
