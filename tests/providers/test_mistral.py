"""MistralProvider through the real ``mistralai`` SDK against a wire-faithful fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from mistralai.client.models import UsageInfo

from src.domain.errors import (
    ProviderRejectedRequest,
)
from src.domain.llm import ChatMessage, ChatRequest, StreamEnd, TokenUsage
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.mistral import MistralProvider, usage_from_mistral
from src.infrastructure.pricing.price_book import DatedPriceBook
from tests.fakes import mistral_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.contract import collect
from tests.providers.registered import PRICED_AT, spec_of

SPEC = spec_of("mistral")

API_KEY = "mistral-test-secret-42"
MODEL = SPEC.default_model

CONTEXT = (
    ChatMessage("system", "You are terse."),
    ChatMessage("system", "Summary of the earlier conversation:\nThe user likes cats."),
    ChatMessage("user", "Name a cat."),
    ChatMessage("assistant", "Tom."),
    ChatMessage("user", "Another one?"),
)


def _config(url: str, *, timeout_s: float = 2.0) -> ProviderConfig:
    return ProviderConfig(api_key=API_KEY, base_url=url, timeout_s=timeout_s, max_output_tokens=321)


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[MistralProvider]:
    adapter = MistralProvider(SPEC, _config(fake.url))
    yield adapter
    await adapter.aclose()


def _ask(text: str = "Name a cat.") -> ChatRequest:
    return ChatRequest(model=MODEL, messages=(ChatMessage("user", text),))


# -- usage ------------------------------------------------------------------------------------


def test_usage_counts_cached_prompt_tokens_inside_the_input() -> None:
    usage = UsageInfo.model_validate(wire.usage(1013, 30, cached_tokens=1008))
    assert usage_from_mistral(usage) == TokenUsage(
        input_tokens=1013, output_tokens=30, cached_input_tokens=1008
    )


def test_usage_without_cache_details_has_no_cached_tokens() -> None:
    usage = UsageInfo.model_validate(wire.usage(40, 7))
    assert usage_from_mistral(usage) == TokenUsage(input_tokens=40, output_tokens=7)


@pytest.mark.parametrize(
    "extra",
    [{"num_cached_tokens": 64}, {"prompt_token_details": {"cached_tokens": 64}}],
    ids=["num_cached_tokens", "singular_details"],
)
def test_usage_reads_the_other_documented_cache_fields(extra: dict[str, object]) -> None:
    usage = UsageInfo.model_validate({**wire.usage(100, 5), **extra})
    assert usage_from_mistral(usage).cached_input_tokens == 64


def test_usage_keeps_reasoning_tokens_inside_the_output() -> None:
    raw = {**wire.usage(10, 50), "completion_tokens_details": {"reasoning_tokens": 45}}
    usage = usage_from_mistral(UsageInfo.model_validate(raw))
    assert (usage.output_tokens, usage.reasoning_tokens) == (50, 45)


# -- request ----------------------------------------------------------------------------------


async def test_sends_system_summary_conversation_then_the_new_message(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply("Felix."))
    request = ChatRequest(model=MODEL, messages=CONTEXT, temperature=0.3, max_tokens=50)

    await provider.complete(request)

    received = fake.last
    assert (received.method, received.path) == ("POST", wire.CHAT_PATH)
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.json == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "system",
                "content": "Summary of the earlier conversation:\nThe user likes cats.",
            },
            {"role": "user", "content": "Name a cat."},
            # The SDK marks earlier answers as not being a prefix to continue.
            {"role": "assistant", "content": "Tom.", "prefix": False},
            {"role": "user", "content": "Another one?"},
        ],
        "temperature": 0.3,
        "max_tokens": 50,
        "stream": False,
    }


async def test_caps_the_output_with_the_configured_default(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply())
    await provider.complete(_ask())
    assert fake.last.json["max_tokens"] == 321
    assert "temperature" not in fake.last.json


# -- response ---------------------------------------------------------------------------------


async def test_maps_the_reply_usage_and_golden_cost(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply("Felix.", usage_body=wire.usage(2_000, 400, cached_tokens=1_000)))

    result = await provider.complete(_ask())

    assert (result.text, result.model, result.finish_reason) == ("Felix.", MODEL, "stop")
    assert result.usage == TokenUsage(
        input_tokens=2_000, output_tokens=400, cached_input_tokens=1_000
    )
    price = DatedPriceBook.load().price_of("mistral", MODEL, PRICED_AT)
    # 1000 x 0.15 + 1000 x 0.015 + 400 x 0.60, per million tokens
    assert cost_of(result.usage, price) == Decimal("0.000405")


async def test_reasoning_chunks_are_kept_apart_from_the_answer(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply(wire.thinking_content("Cats: Felix, Tom.", "Felix.")))

    result = await provider.complete(_ask())

    assert (result.text, result.reasoning_content) == ("Felix.", "Cats: Felix, Tom.")


# -- errors -----------------------------------------------------------------------------------


async def test_unknown_model_is_a_rejected_request(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(400))
    with pytest.raises(ProviderRejectedRequest, match="Invalid model"):
        await provider.complete(_ask())


# -- streaming --------------------------------------------------------------------------------


async def test_a_stream_is_requested_as_server_sent_events(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(["Felix."], usage_body=wire.usage(30, 3)))

    events = await collect(provider.stream(_ask()))

    assert fake.last.json["stream"] is True
    assert fake.last.headers["accept"] == "text/event-stream"
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.usage == TokenUsage(input_tokens=30, output_tokens=3)
