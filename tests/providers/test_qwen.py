"""QwenProvider through the real ``dashscope`` SDK (native protocol) against a faithful fake."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from dashscope.v2.types.common import Usage

from src.domain.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderTimeout,
)
from src.domain.llm import ChatMessage, ChatRequest, StreamEnd, StreamEvent, TextDelta, TokenUsage
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.qwen import QwenProvider, usage_from_dashscope
from src.infrastructure.llm_providers.resilience import ResilientProvider
from src.infrastructure.pricing.price_book import JsonPriceBook
from tests.fakes import dashscope_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.registered import spec_of

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


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _fresh(fake: FakeUpstream) -> None:
    fake.reset()


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


async def _collect(
    events: AsyncIterator[StreamEvent], into: list[StreamEvent] | None = None
) -> list[StreamEvent]:
    """Every event of a stream, appended to ``into`` as it arrives (kept if the stream fails)."""
    received = into if into is not None else []
    async for event in events:
        received.append(event)
    return received


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


def test_without_a_key_it_is_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured, match="QWEN_API_KEY"):
        QwenProvider(SPEC, ProviderConfig(api_key=None))


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
    price = JsonPriceBook.load().price_of("qwen", MODEL)
    # 1000 x 0.40 + 1000 x 0.08 + 400 x 1.20, per million tokens
    assert cost_of(result.usage, price) == Decimal("0.00096")


def test_every_known_model_has_a_price() -> None:
    book = JsonPriceBook.load()
    spec = SPEC
    assert spec.default_model in spec.models
    assert [m for m in spec.models if book.price_of("qwen", m) is None] == []


# -- errors -----------------------------------------------------------------------------------


async def test_throttling_then_success_through_the_resilience_layer(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(429, retry_after="0.2"), wire.generation_reply("Felix."))
    resilient = ResilientProvider(provider, max_retries=2, base_delay_s=5.0)

    started = time.monotonic()
    result = await resilient.complete(_ask())

    assert result.text == "Felix."
    assert len(fake.received) == 2
    # Retry-After (0.2 s) was honoured instead of the 5 s backoff.
    assert 0.2 <= time.monotonic() - started < 2.0


async def test_throttling_carries_retry_after(provider: QwenProvider, fake: FakeUpstream) -> None:
    fake.enqueue(wire.error_reply(429, retry_after="7"))
    with pytest.raises(ProviderRateLimited) as caught:
        await provider.complete(_ask())
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
    assert len(fake.received) == 1  # the SDK did not retry on its own


async def test_internal_error_is_transient(provider: QwenProvider, fake: FakeUpstream) -> None:
    fake.enqueue(wire.error_reply(500))
    with pytest.raises(ProviderServerError) as caught:
        await provider.complete(_ask())
    assert caught.value.status == 500
    assert caught.value.transient
    assert "InternalError" in caught.value.message
    assert len(fake.received) == 1


async def test_invalid_key_names_the_variable_never_the_key(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(401))
    with pytest.raises(ProviderAuthError) as caught:
        await provider.complete(_ask())
    assert "QWEN_API_KEY" in caught.value.message
    assert API_KEY not in str(caught.value.details)


async def test_invalid_parameter_is_a_rejected_request(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(400))
    with pytest.raises(ProviderRejectedRequest, match="InvalidParameter"):
        await provider.complete(_ask())


async def test_a_hang_times_out(fake: FakeUpstream) -> None:
    adapter = QwenProvider(SPEC, _config(fake.url + wire.BASE_PATH, timeout_s=0.3))
    fake.enqueue(wire.hang_reply(1.0))
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout):
            await adapter.complete(_ask())
    finally:
        await adapter.aclose()
    assert time.monotonic() - started < 0.9


async def test_malformed_body_is_a_server_error_that_is_not_retried(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.malformed_reply())
    with pytest.raises(ProviderServerError) as caught:
        await provider.complete(_ask())
    assert caught.value.status is None
    assert not caught.value.transient


async def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = QwenProvider(SPEC, _config(f"http://127.0.0.1:{port}{wire.BASE_PATH}"))
    try:
        with pytest.raises(ProviderConnectionError):
            await adapter.complete(_ask())
    finally:
        await adapter.aclose()


# -- streaming --------------------------------------------------------------------------------


async def test_streams_deltas_then_the_whole_reply_with_usage(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(["Fe", "lix", "."], input_tokens=30, cached_tokens=10))

    events = await _collect(provider.stream(_ask()))

    assert events[:-1] == [TextDelta("Fe"), TextDelta("lix"), TextDelta(".")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.finish_reason) == ("Felix.", "stop")
    # Each event reports the usage so far: the last one counts.
    assert end.result.usage == TokenUsage(input_tokens=30, output_tokens=3, cached_input_tokens=10)
    assert fake.last.headers["x-dashscope-sse"] == "enable"
    assert fake.last.json["parameters"]["incremental_output"] is True


async def test_first_delta_arrives_before_the_upstream_finished(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(["a", "b", "c", "d"], chunk_delay_s=0.15))
    first_delta_at: float | None = None

    async for event in provider.stream(_ask()):
        if isinstance(event, TextDelta) and first_delta_at is None:
            first_delta_at = time.monotonic()

    assert first_delta_at is not None
    assert first_delta_at < fake.sse_finished_at[-1] - 0.2


async def test_an_error_event_mid_stream_is_mapped_by_its_code(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_failing_reply(["Fe"], 429))
    received: list[StreamEvent] = []

    with pytest.raises(ProviderRateLimited) as caught:
        await _collect(provider.stream(_ask()), received)

    assert received == [TextDelta("Fe")]
    assert caught.value.status == 429


async def test_stream_refused_before_its_first_event_is_mapped(
    provider: QwenProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(401))
    with pytest.raises(ProviderAuthError):
        await _collect(provider.stream(_ask()))


async def test_a_stream_that_goes_quiet_times_out(fake: FakeUpstream) -> None:
    adapter = QwenProvider(SPEC, _config(fake.url + wire.BASE_PATH, timeout_s=0.3))
    fake.enqueue(wire.stream_reply(["a", "b"], chunk_delay_s=0.6))
    received: list[StreamEvent] = []
    try:
        with pytest.raises(ProviderTimeout):
            await _collect(adapter.stream(_ask()), received)
    finally:
        await adapter.aclose()
    assert TextDelta("b") not in received
