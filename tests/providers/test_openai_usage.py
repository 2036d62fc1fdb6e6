"""``usage_from_openai``: each vendor's token counting, normalized, read from the ``usage``
object's JSON (a whole response's, or a stream chunk's members)."""

from __future__ import annotations

from typing import Any

from openai.types import CompletionUsage

from src.domain.llm import TokenUsage
from src.infrastructure.llm_providers.openai_compatible import usage_from_openai
from tests.fakes import openai_wire as wire


def parse(body: dict[str, Any]) -> dict[str, Any]:
    """The object as a stream's chunk hands it over: the SDK's model, back to its members."""
    return CompletionUsage.model_validate(body).to_dict(warnings=False)


def test_openai_prompt_tokens_already_include_cached_tokens() -> None:
    usage = usage_from_openai(parse(wire.usage(1000, 300, cached_tokens=800, reasoning_tokens=120)))

    assert usage == TokenUsage(
        input_tokens=1000, output_tokens=300, cached_input_tokens=800, reasoning_tokens=120
    )
    assert usage.total_tokens == 1300


def test_deepseek_cache_split_is_read_from_the_extra_fields() -> None:
    body = wire.usage(1000, 50, cache_hit_miss=(640, 360))

    assert usage_from_openai(parse(body)) == TokenUsage(1000, 50, cached_input_tokens=640)


def test_deepseek_split_wins_over_a_prompt_count_that_disagrees() -> None:
    body = wire.usage(999, 50, cached_tokens=1, cache_hit_miss=(640, 360))

    usage = usage_from_openai(parse(body))

    assert (usage.input_tokens, usage.cached_input_tokens) == (1000, 640)


def test_xai_reasoning_tokens_are_added_to_the_output() -> None:
    body = wire.usage(100, 10, reasoning_tokens=300, reasoning_outside_completion=True)

    usage = usage_from_openai(parse(body), reasoning_in_completion=False)

    assert usage == TokenUsage(100, 310, reasoning_tokens=300)


def test_plain_usage_without_details() -> None:
    assert usage_from_openai(parse(wire.usage(7, 3))) == TokenUsage(7, 3)


def test_cache_writes_are_kept_when_reported() -> None:
    body = {**wire.usage(500, 5), "prompt_tokens_details": {"cache_write_tokens": 200}}

    assert usage_from_openai(parse(body)).cache_write_tokens == 200


def test_the_whole_responses_json_and_the_chunks_model_count_alike() -> None:
    body = wire.usage(1000, 50, cached_tokens=10, reasoning_tokens=5, cache_hit_miss=(640, 360))

    assert usage_from_openai(body) == usage_from_openai(parse(body))


def test_details_that_are_null_or_not_objects_count_nothing() -> None:
    body = {
        **wire.usage(12, 4),
        "prompt_tokens_details": None,
        "completion_tokens_details": "n/a",
    }

    assert usage_from_openai(body) == TokenUsage(12, 4)
