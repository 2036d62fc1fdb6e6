"""GeminiProvider through the real ``google-genai`` SDK against a wire-faithful fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from google.genai import types

from src.domain.errors import (
    ProviderConnectionError,
    ProviderRejectedRequest,
)
from src.domain.llm import ChatMessage, ChatRequest, StreamEnd, StreamEvent, TextDelta, TokenUsage
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.gemini import GeminiProvider, usage_from_gemini
from src.infrastructure.pricing.price_book import DatedPriceBook
from tests.fakes import gemini_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.contract import collect
from tests.providers.registered import PRICED_AT, spec_of

SPEC = spec_of("gemini")

MODEL = "gemini-3.8-flash"


def _config(url: str, *, timeout_s: float = 2.0) -> ProviderConfig:
    return ProviderConfig(
        api_key="test-key", base_url=url, timeout_s=timeout_s, max_output_tokens=777
    )


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[GeminiProvider]:
    adapter = GeminiProvider(SPEC, _config(fake.url))
    yield adapter
    await adapter.aclose()


def _ask(text: str = "Explain AI simply") -> ChatRequest:
    return ChatRequest(model=MODEL, messages=(ChatMessage("user", text),))


# -- request shape ----------------------------------------------------------------------------


async def test_system_prompt_and_summary_become_system_instruction_and_assistant_is_model(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(wire.response("Sure."))
    request = ChatRequest(
        model=MODEL,
        messages=(
            ChatMessage("system", "You are terse."),
            ChatMessage("system", "Summary: the user studies physics."),
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello!"),
            ChatMessage("user", "Explain AI simply"),
        ),
        temperature=0.7,
        max_tokens=1000,
    )

    await provider.complete(request)

    assert fake.last.path == f"/v1/models/{MODEL}:generateContent"
    assert fake.last.headers["x-goog-api-key"] == "test-key"
    assert fake.last.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Explain AI simply"}]},
        ],
        "systemInstruction": {
            "role": "user",
            "parts": [{"text": "You are terse.\n\nSummary: the user studies physics."}],
        },
        "generationConfig": {"temperature": 0.7, "maxOutputTokens": 1000},
    }


async def test_output_ceiling_defaults_to_the_configured_one(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(wire.response("Sure."))

    await provider.complete(_ask())

    assert fake.last.json["generationConfig"] == {"maxOutputTokens": 777}
    assert "systemInstruction" not in fake.last.json


# -- usage and cost ---------------------------------------------------------------------------


def test_usage_keeps_cached_tokens_inside_input_and_adds_thoughts_to_output() -> None:
    usage = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=1200,
        cached_content_token_count=1000,
        candidates_token_count=80,
        thoughts_token_count=300,
    )

    assert usage_from_gemini(usage) == TokenUsage(
        input_tokens=1200, output_tokens=380, cached_input_tokens=1000, reasoning_tokens=300
    )


def test_usage_counts_tool_results_as_input_and_missing_counts_as_zero() -> None:
    usage = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=50, tool_use_prompt_token_count=25
    )

    assert usage_from_gemini(usage) == TokenUsage(input_tokens=75)


async def test_complete_returns_text_model_and_usage(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(wire.response("AI finds patterns.", usage_body=wire.usage(100, 7, cached=60)))

    result = await provider.complete(_ask())

    assert (result.text, result.model, result.finish_reason) == (
        "AI finds patterns.",
        MODEL,
        "stop",
    )
    assert result.usage == TokenUsage(input_tokens=100, output_tokens=7, cached_input_tokens=60)


async def test_cost_of_a_cached_thinking_reply_matches_the_price_file(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    body = wire.usage(12000, 300, cached=10000, thoughts=700)
    fake.enqueue(wire.response("Sure.", usage_body=body))

    result = await provider.complete(_ask())
    price = DatedPriceBook.load().price_of("gemini", MODEL, PRICED_AT)

    # 2000 x 0.75 + 10000 cached x 0.075 + (300 + 700 thinking) x 3.75, per million
    assert cost_of(result.usage, price) == Decimal("0.006")


# -- failures ---------------------------------------------------------------------------------


async def test_unknown_model_is_a_rejected_request(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(wire.unknown_model("gemini-0-nope"))

    with pytest.raises(ProviderRejectedRequest) as caught:
        await provider.complete(_ask())

    assert caught.value.status == 404
    assert "gemini-0-nope" in caught.value.message


# -- streaming --------------------------------------------------------------------------------


async def test_stream_yields_deltas_then_one_end_with_the_final_usage(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    final = wire.usage(100, 9, cached=80, thoughts=4)
    fake.enqueue(wire.stream(["AI ", "finds ", "patterns."], final_usage=final))
    events: list[StreamEvent] = []

    await collect(provider.stream(_ask()), events)

    assert events[:-1] == [TextDelta("AI "), TextDelta("finds "), TextDelta("patterns.")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.finish_reason) == ("AI finds patterns.", "stop")
    assert end.result.usage == TokenUsage(
        input_tokens=100, output_tokens=13, cached_input_tokens=80, reasoning_tokens=4
    )
    assert (fake.last.path, fake.last.query) == (
        f"/v1/models/{MODEL}:streamGenerateContent",
        {"alt": "sse"},
    )


async def test_stream_cut_before_its_end_is_a_connection_error(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    reply = wire.stream(["AI ", "finds ", "patterns."])
    assert reply.sse is not None
    reply.sse = reply.sse[:2]  # the connection closes cleanly after the second piece
    fake.enqueue(reply)
    events: list[StreamEvent] = []

    with pytest.raises(ProviderConnectionError):
        await collect(provider.stream(_ask()), events)

    assert events == [TextDelta("AI "), TextDelta("finds ")]  # and no StreamEnd
