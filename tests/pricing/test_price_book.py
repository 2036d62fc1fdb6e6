"""The price book: prices from the genai-prices data set with their dates and tiers, local
overrides for what it lacks, unknown means None, every listed model priced."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from src.domain.llm import TokenUsage
from src.domain.pricing import ModelPrice, Tiered, cost_of
from src.infrastructure.llm_providers.registry import PROVIDER_ADAPTERS, ProviderEntry
from src.infrastructure.pricing.genai_source import PROVIDER_IDS
from src.infrastructure.pricing.price_book import ANY_MODEL, DatedPriceBook

BOOK = DatedPriceBook.load()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_prices_load_as_exact_decimals() -> None:
    assert BOOK.price_of("openai", "gpt-5.4-mini", NOW) == ModelPrice(
        input=Decimal("0.75"), cached_input=Decimal("0.075"), output=Decimal("4.50")
    )


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-unknown"), ("nobody", "gpt-5.4"), ("grok", "")]
)
def test_unknown_provider_or_model_has_no_price(provider: str, model: str) -> None:
    assert BOOK.price_of(provider, model, NOW) is None


@pytest.mark.parametrize(
    "adapter", [a for a in PROVIDER_ADAPTERS if not a.KEYLESS], ids=lambda a: a.SPEC.name
)
def test_every_known_model_has_a_price(adapter: ProviderEntry) -> None:
    missing = [m for m in adapter.SPEC.models if BOOK.price_of(adapter.SPEC.name, m, NOW) is None]

    assert missing == []
    assert adapter.SPEC.default_model in adapter.SPEC.models


# -- golden figures around the Gemini price change of 2026-12-01 -------------------------------

ARGON_TURN = TokenUsage(input_tokens=10_000, output_tokens=2_000, cached_input_tokens=4_000)


@pytest.mark.parametrize(
    ("when", "cost"),
    [
        # 6000 x 2.00 + 4000 x 0.10 + 2000 x 10.00, per million
        ("2026-11-30T23:59:59+00:00", Decimal("0.0324")),
        # the launch price doubled at midnight UTC: 4.00 / 0.20 / 20.00
        ("2026-12-01T00:00:00+00:00", Decimal("0.0648")),
        ("2027-06-01T08:00:00+00:00", Decimal("0.0648")),
    ],
)
def test_a_turn_is_billed_at_the_price_in_force_when_it_ran(when: str, cost: Decimal) -> None:
    price = BOOK.price_of("gemini", "gemini-4-argon", at(when))

    assert cost_of(ARGON_TURN, price) == cost


def test_a_price_change_announced_for_later_waits_for_its_date() -> None:
    before = BOOK.price_of("gemini", "gemini-3.8-flash", at("2026-12-31T23:59:59+00:00"))
    after = BOOK.price_of("gemini", "gemini-3.8-flash", at("2027-01-01T00:00:00+00:00"))

    assert before is not None and after is not None
    assert (before.input, after.input) == (Decimal("0.75"), Decimal("1.5"))


def test_long_context_requests_pay_the_tier_rate_on_every_token() -> None:
    price = BOOK.price_of("anthropic", "claude-haiku-5-5", NOW)
    assert price is not None and isinstance(price.input, Tiered)
    threshold, tier_rate = price.input.tiers[0]
    short = TokenUsage(input_tokens=threshold, output_tokens=1_000)
    long = TokenUsage(input_tokens=threshold + 1, output_tokens=1_000)

    assert cost_of(short, price) == (threshold * price.input.base + 1_000 * Decimal("0.5")) / 10**6
    assert (
        cost_of(long, price)
        == (
            (threshold + 1) * tier_rate + 1_000 * price.output.for_input(threshold + 1)  # type: ignore[union-attr]
        )
        / 10**6
    )
    assert cost_of(long, price) > cost_of(short, price) * 4  # type: ignore[operator]


def test_cached_reads_and_writes_have_their_own_rates() -> None:
    price = BOOK.price_of("anthropic", "claude-sonnet-5-5", NOW)
    turn = TokenUsage(
        input_tokens=10_000, output_tokens=500, cached_input_tokens=6_000, cache_write_tokens=3_000
    )

    # 1000 uncached x 2.00 + 6000 reads x 0.10 + 3000 writes x 2.50 + 500 x 10.00
    assert cost_of(turn, price) == Decimal("0.0151")


def test_off_peak_hours_follow_the_daily_window() -> None:
    peak = BOOK.price_of("deepseek", "deepseek-flash", at("2026-12-01T02:00:00+00:00"))
    off_peak = BOOK.price_of("deepseek", "deepseek-flash", at("2026-12-01T12:00:00+00:00"))

    assert peak is not None and off_peak is not None
    assert peak.input == 2 * off_peak.input


@pytest.mark.parametrize(
    ("provider", "model", "when"),
    [
        ("gemini", "gemini-4-argon", "2026-11-30T12:00:00+00:00"),
        ("gemini", "gemini-4-argon", "2026-12-01T12:00:00+00:00"),
        ("anthropic", "claude-haiku-5-5", "2026-12-01T12:00:00+00:00"),
        ("openai", "gpt-5.5", "2026-12-01T12:00:00+00:00"),
        ("deepseek", "deepseek-v4-pro", "2026-08-01T12:00:00+00:00"),
        ("deepseek", "deepseek-v4-pro", "2026-12-01T07:00:00+00:00"),
        ("mistral", "mistral-medium-2508", "2026-12-01T12:00:00+00:00"),
    ],
)
@pytest.mark.parametrize("input_tokens", [1_000, 300_000])
def test_costs_agree_with_the_data_sets_own_calculator(
    provider: str, model: str, when: str, input_tokens: int
) -> None:
    usage = TokenUsage(
        input_tokens=input_tokens, output_tokens=700, cached_input_tokens=400, cache_write_tokens=0
    )
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=input_tokens, output_tokens=700, cache_read_tokens=400),
        model,
        provider_id=PROVIDER_IDS[provider],
        genai_request_timestamp=at(when),
    )

    assert cost_of(usage, BOOK.price_of(provider, model, at(when))) == theirs.total_price


def test_a_dated_model_name_is_resolved_by_the_data_sets_rules_then_cached() -> None:
    book = DatedPriceBook.load()
    dated = book.price_of("openai", "gpt-5.4-2026-03-05", NOW)

    assert dated == book.price_of("openai", "gpt-5.4", NOW)
    assert ("openai", "gpt-5.4-2026-03-05") in book._schedules  # looked up once, not per call


def test_local_models_are_free_whatever_the_model() -> None:
    free = ModelPrice(Decimal(0), Decimal(0), Decimal(0))

    assert BOOK.price_of("ollama", "anything-pulled-locally", NOW) == free


def test_entries_list_the_known_models_with_their_source() -> None:
    entries = BOOK.entries({"openai": ["gpt-5.4-mini"], "gemini": ["gemini-4-argon"]}, NOW)

    argon = next(e for e in entries if e.model == "gemini-4-argon")
    assert (argon.price.input, argon.since) == (Decimal(4), "2026-12-01")
    assert {e.provider for e in entries} == {"openai", "gemini", "qwen", "ollama"}
    assert any(e.provider == "ollama" and e.model == ANY_MODEL for e in entries)
    qwen = [e for e in entries if e.provider == "qwen"]
    assert qwen and all(e.source.startswith("https://") for e in qwen)


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


def test_loads_an_override_directory_with_cache_write_prices(tmp_path: Path) -> None:
    row = {"input": "3", "cached_input": "0.30", "output": "15", "cache_write": "3.75"}
    write(tmp_path, "acme.json", table(models={"a-1": row}))
    (tmp_path / "README.md").write_text("not a price file")

    book = DatedPriceBook.load(tmp_path, data_set=False)

    assert book.price_of("acme", "a-1", NOW) == ModelPrice(
        Decimal(3), Decimal("0.30"), Decimal(15), cache_write=Decimal("3.75")
    )
    assert book.price_of("openai", "gpt-5.4", NOW) is None


def test_an_override_wins_over_the_data_set(tmp_path: Path) -> None:
    row = {"input": "1", "cached_input": "0.1", "output": "2"}
    write(tmp_path, "openai.json", table(provider="openai", models={"gpt-5.4-mini": row}))

    book = DatedPriceBook.load(tmp_path)

    assert book.price_of("openai", "gpt-5.4-mini", NOW) == ModelPrice(
        Decimal(1), Decimal("0.1"), Decimal(2)
    )
    assert book.price_of("openai", "gpt-5.4-nano", NOW) is not None  # the rest still priced


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
        DatedPriceBook.load(tmp_path, data_set=False)
