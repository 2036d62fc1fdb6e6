"""AnthropicProvider through the real ``anthropic`` SDK against a wire-faithful fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from anthropic.types import Usage

from src.domain.errors import (
    ProviderConnectionError,
    ProviderServerError,
)
from src.domain.llm import ChatMessage, ChatRequest, StreamEnd, StreamEvent, TextDelta, TokenUsage
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.anthropic import AnthropicProvider, usage_from_anthropic
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.pricing.price_book import DatedPriceBook
from tests.fakes import anthropic_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.contract import collect
from tests.providers.registered import PRICED_AT, spec_of

SPEC = spec_of("anthropic")

MODEL = "claude-sonnet-5-5"


def _config(url: str, *, timeout_s: float = 2.0, max_output_tokens: int = 777) -> ProviderConfig:
    return ProviderConfig(
        api_key="test-key", base_url=url, timeout_s=timeout_s, max_output_tokens=max_output_tokens
    )


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[AnthropicProvider]:
    adapter = AnthropicProvider(SPEC, _config(fake.url))
    yield adapter
    await adapter.aclose()


def _ask(text: str = "Explain AI simply") -> ChatRequest:
    return ChatRequest(model=MODEL, messages=(ChatMessage("user", text),))


# -- request shape ----------------------------------------------------------------------------


async def test_system_prompt_and_summary_become_system_and_turns_alternate(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.message("Sure."))
    request = ChatRequest(
        model=MODEL,
        messages=(
            ChatMessage("system", "You are terse."),
            ChatMessage("system", "Summary: the user studies physics."),
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello!"),
            ChatMessage("user", "One more thing."),
            ChatMessage("user", "Explain AI simply"),
        ),
        temperature=0.7,
        max_tokens=1000,
    )

    await provider.complete(request)

    assert fake.last.path == "/v1/messages"
    assert fake.last.json == {
        "model": MODEL,
        "max_tokens": 1000,
        "system": "You are terse.\n\nSummary: the user studies physics.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "One more thing.\n\nExplain AI simply"},
        ],
    }


async def test_max_tokens_is_always_sent_defaulting_to_the_configured_ceiling(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.message("Sure."))

    await provider.complete(_ask())

    assert fake.last.json["max_tokens"] == 777
    assert "system" not in fake.last.json


# -- usage and cost ---------------------------------------------------------------------------


def test_usage_adds_cache_reads_and_writes_to_input() -> None:
    usage = Usage(
        input_tokens=100,
        cache_read_input_tokens=2000,
        cache_creation_input_tokens=300,
        output_tokens=50,
    )

    assert usage_from_anthropic(usage) == TokenUsage(
        input_tokens=2400, output_tokens=50, cached_input_tokens=2000, cache_write_tokens=300
    )


def test_usage_without_cache_fields_counts_them_as_zero() -> None:
    usage = Usage.model_validate(
        {"input_tokens": 12, "output_tokens": 40, "output_tokens_details": {"thinking_tokens": 30}}
    )

    assert usage_from_anthropic(usage) == TokenUsage(
        input_tokens=12, output_tokens=40, reasoning_tokens=30
    )


async def test_complete_returns_text_model_and_cached_usage(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.message("AI finds patterns.", usage_body=wire.usage(10, 7, cache_read=90)))

    result = await provider.complete(_ask())

    assert (result.text, result.model, result.finish_reason) == (
        "AI finds patterns.",
        MODEL,
        "stop",
    )
    assert result.usage == TokenUsage(input_tokens=100, output_tokens=7, cached_input_tokens=90)


async def test_cost_of_a_cached_reply_matches_the_price_file(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    body = wire.usage(1000, 500, cache_read=20000, cache_write=3000)
    fake.enqueue(wire.message("Sure.", usage_body=body))

    result = await provider.complete(_ask())
    price = DatedPriceBook.load().price_of("anthropic", MODEL, PRICED_AT)

    # 1000 x 2.00 + 20000 x 0.10 + 3000 x 2.50 (5-minute write) + 500 x 10.00, per million
    assert cost_of(result.usage, price) == Decimal("0.0165")


# -- failures ---------------------------------------------------------------------------------


async def test_overload_is_a_transient_server_error(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.overloaded())

    with pytest.raises(ProviderServerError) as caught:
        await provider.complete(_ask())

    assert caught.value.status == 529
    assert caught.value.transient


# -- streaming --------------------------------------------------------------------------------


async def test_stream_yields_deltas_then_one_end_with_the_final_usage(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    opening = wire.usage(20, 1, cache_read=80)
    fake.enqueue(wire.stream(["AI ", "finds ", "patterns."], start_usage=opening, output_tokens=9))

    events: list[StreamEvent] = []
    await collect(provider.stream(_ask()), events)

    assert events[:-1] == [TextDelta("AI "), TextDelta("finds "), TextDelta("patterns.")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.finish_reason) == ("AI finds patterns.", "stop")
    assert end.result.usage == TokenUsage(input_tokens=100, output_tokens=9, cached_input_tokens=80)
    assert fake.last.json["stream"] is True


async def test_overload_in_the_middle_of_a_stream_is_a_server_error(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.stream(["AI ", "finds "], error_after=1))
    received: list[StreamEvent] = []

    with pytest.raises(ProviderServerError) as caught:
        await collect(provider.stream(_ask()), received)

    assert received == [TextDelta("AI ")]
    assert caught.value.status == 529


async def test_stream_cut_before_its_end_is_a_connection_error(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    reply = wire.stream(["AI ", "finds ", "patterns."])
    assert reply.sse is not None
    reply.sse = reply.sse[:5]  # the connection closes cleanly after the second piece
    fake.enqueue(reply)
    events: list[StreamEvent] = []

    with pytest.raises(ProviderConnectionError):
        await collect(provider.stream(_ask()), events)

    assert events == [TextDelta("AI "), TextDelta("finds ")]  # and no StreamEnd
