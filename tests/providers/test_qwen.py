"""QwenProvider through the real ``dashscope`` SDK (native protocol) against a faithful fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from dashscope.v2.types.common import Usage

from src.domain.errors import (
    ProviderAuthError,
    ProviderRateLimited,
    ProviderRejectedRequest,
)
from src.domain.llm import ChatMessage, ChatRequest, StreamEnd, StreamEvent, TextDelta, TokenUsage
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.qwen import QwenProvider, usage_from_dashscope
from src.infrastructure.pricing.price_book import DatedPriceBook
from tests.fakes import dashscope_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.contract import collect
from tests.providers.registered import PRICED_AT, spec_of

SPEC = spec_of("qwen")

API_KEY = "sk-dashscope-test-secret-7"
MODEL = SPEC.default_model

CONTEXT = (
    ChatMessage("system", "You are terse."),
    ChatMessage("system", "Summary of the earlier conversation:\nThe user likes cats."),
    ChatMessage("user", "Name a cat."),
    ChatMessage("assistant", "Tom."),
    ChatMessage("user", "Another one?"),
)


def _config(base_url: str, *, timeout_s: float = 2.0) -> ProviderConfig:
    return ProviderConfig(
        api_key=API_KEY, base_url=base_url, timeout_s=timeout_s, max_output_tokens=321
    )


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[QwenProvider]:
    adapter = QwenProvider(SPEC, _config(fake.url + wire.BASE_PATH))
    yield adapter
    await adapter.aclose()


def _ask(text: str = "Name a cat.") -> ChatRequest:
    return ChatRequest(model=MODEL, messages=(ChatMessage("user", text),))


# -- usage ------------------------------------------------------------------------------------


def test_usage_counts_cache_hits_inside_the_input() -> None:
    usage = Usage.model_validate(wire.usage(3019, 104, cached_tokens=2048))
    assert usage_from_dashscope(usage) == TokenUsage(
        input_tokens=3019, output_tokens=104, cached_input_tokens=2048
    )


def test_usage_without_details_has_no_cached_or_reasoning_tokens() -> None:
    usage = Usage.model_validate(wire.usage(20, 6))
    assert usage_from_dashscope(usage) == TokenUsage(input_tokens=20, output_tokens=6)


def test_usage_keeps_reasoning_tokens_inside_the_output() -> None:
    usage = usage_from_dashscope(Usage.model_validate(wire.usage(287, 3, reasoning_tokens=1)))
    assert (usage.output_tokens, usage.reasoning_tokens) == (3, 1)


# -- request ----------------------------------------------------------------------------------


async def test_sends_one_system_message_then_the_conversation_natively(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.generation_reply("Felix."))
    request = ChatRequest(model=MODEL, messages=CONTEXT, temperature=0.3, max_tokens=50)

    await provider.complete(request)

    received = fake.last
    assert (received.method, received.path) == ("POST", wire.GENERATION_PATH)
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.json == {
        "model": MODEL,
        "input": {
            "messages": [
                {
                    "role": "system",
                    "content": "You are terse.\n\n"
                    "Summary of the earlier conversation:\nThe user likes cats.",
                },
                {"role": "user", "content": "Name a cat."},
                {"role": "assistant", "content": "Tom."},
                {"role": "user", "content": "Another one?"},
            ]
        },
        "parameters": {"result_format": "message", "temperature": 0.3, "max_tokens": 50},
    }


async def test_caps_the_output_with_the_configured_default(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.generation_reply())
    await provider.complete(_ask())
    assert fake.last.json["parameters"] == {"result_format": "message", "max_tokens": 321}
    assert fake.last.json["input"]["messages"] == [{"role": "user", "content": "Name a cat."}]


# -- response ---------------------------------------------------------------------------------


async def test_maps_the_reply_usage_and_golden_cost(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(
        wire.generation_reply(
            "Felix.",
            usage_body=wire.usage(2_000, 400, cached_tokens=1_000),
            reasoning_content="Cats: Felix, Tom.",
        )
    )

    result = await provider.complete(_ask())

    assert (result.text, result.model, result.finish_reason) == ("Felix.", MODEL, "stop")
    assert result.reasoning_content == "Cats: Felix, Tom."
    assert result.usage == TokenUsage(
        input_tokens=2_000, output_tokens=400, cached_input_tokens=1_000
    )
    price = DatedPriceBook.load().price_of("qwen", MODEL, PRICED_AT)
    # 1000 x 0.40 + 1000 x 0.08 + 400 x 1.20, per million tokens
    assert cost_of(result.usage, price) == Decimal("0.00096")


# -- errors -----------------------------------------------------------------------------------


async def test_invalid_parameter_is_a_rejected_request(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(400))
    with pytest.raises(ProviderRejectedRequest, match="InvalidParameter"):
        await provider.complete(_ask())


# -- streaming --------------------------------------------------------------------------------


async def test_streams_deltas_then_the_whole_reply_with_usage(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(["Fe", "lix", "."], input_tokens=30, cached_tokens=10))

    events = await collect(provider.stream(_ask()))

    assert events[:-1] == [TextDelta("Fe"), TextDelta("lix"), TextDelta(".")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.finish_reason) == ("Felix.", "stop")
    # Each event reports the usage so far: the last one counts.
    assert end.result.usage == TokenUsage(input_tokens=30, output_tokens=3, cached_input_tokens=10)
    assert fake.last.headers["x-dashscope-sse"] == "enable"
    assert fake.last.json["parameters"]["incremental_output"] is True


async def test_an_error_event_mid_stream_is_mapped_by_its_code(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_failing_reply(["Fe"], 429))
    received: list[StreamEvent] = []

    with pytest.raises(ProviderRateLimited) as caught:
        await collect(provider.stream(_ask()), received)

    assert received == [TextDelta("Fe")]
    assert caught.value.status == 429


async def test_stream_refused_before_its_first_event_is_mapped(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(401))
    with pytest.raises(ProviderAuthError):
        await collect(provider.stream(_ask()))
