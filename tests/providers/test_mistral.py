"""MistralProvider through the real ``mistralai`` SDK against a wire-faithful fake."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from mistralai.client.models import UsageInfo

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
from src.infrastructure.llm_providers.mistral import MistralProvider, usage_from_mistral
from src.infrastructure.llm_providers.resilience import ResilientProvider
from src.infrastructure.pricing.price_book import JsonPriceBook
from tests.fakes import mistral_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.registered import spec_of

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


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _fresh(fake: FakeUpstream) -> None:
    fake.reset()


def _config(url: str, *, timeout_s: float = 2.0) -> ProviderConfig:
    return ProviderConfig(api_key=API_KEY, base_url=url, timeout_s=timeout_s, max_output_tokens=321)


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[MistralProvider]:
    adapter = MistralProvider(SPEC, _config(fake.url))
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


def test_without_a_key_it_is_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured, match="MISTRAL_API_KEY"):
        MistralProvider(SPEC, ProviderConfig(api_key=None))


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
    price = JsonPriceBook.load().price_of("mistral", MODEL)
    # 1000 x 0.15 + 1000 x 0.015 + 400 x 0.60, per million tokens
    assert cost_of(result.usage, price) == Decimal("0.000405")


def test_every_known_model_has_a_price() -> None:
    book = JsonPriceBook.load()
    spec = SPEC
    assert spec.default_model in spec.models
    assert [m for m in spec.models if book.price_of("mistral", m) is None] == []


async def test_reasoning_chunks_are_kept_apart_from_the_answer(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply(wire.thinking_content("Cats: Felix, Tom.", "Felix.")))

    result = await provider.complete(_ask())

    assert (result.text, result.reasoning_content) == ("Felix.", "Cats: Felix, Tom.")


# -- errors -----------------------------------------------------------------------------------


async def test_rate_limit_then_success_through_the_resilience_layer(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(429, retry_after="0.2"), wire.chat_reply("Felix."))
    resilient = ResilientProvider(provider, max_retries=2, base_delay_s=5.0)

    started = time.monotonic()
    result = await resilient.complete(_ask())

    assert result.text == "Felix."
    assert len(fake.received) == 2
    # Retry-After (0.2 s) was honoured instead of the 5 s backoff.
    assert 0.2 <= time.monotonic() - started < 2.0


async def test_rate_limit_carries_retry_after(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(429, retry_after="7"))
    with pytest.raises(ProviderRateLimited) as caught:
        await provider.complete(_ask())
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
    assert len(fake.received) == 1  # the SDK did not retry on its own


async def test_server_error_is_transient(provider: MistralProvider, fake: FakeUpstream) -> None:
    fake.enqueue(wire.error_reply(500))
    with pytest.raises(ProviderServerError) as caught:
        await provider.complete(_ask())
    assert caught.value.status == 500
    assert caught.value.transient
    assert "Internal server error" in caught.value.message
    assert len(fake.received) == 1


async def test_rejected_key_names_the_variable_never_the_key(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(401))
    with pytest.raises(ProviderAuthError) as caught:
        await provider.complete(_ask())
    assert "MISTRAL_API_KEY" in caught.value.message
    assert API_KEY not in str(caught.value.details)


async def test_unknown_model_is_a_rejected_request(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(400))
    with pytest.raises(ProviderRejectedRequest, match="Invalid model"):
        await provider.complete(_ask())


async def test_a_hang_times_out(fake: FakeUpstream) -> None:
    adapter = MistralProvider(SPEC, _config(fake.url, timeout_s=0.3))
    fake.enqueue(wire.hang_reply(1.0))
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout):
            await adapter.complete(_ask())
    finally:
        await adapter.aclose()
    assert time.monotonic() - started < 0.9


async def test_malformed_body_is_a_server_error_that_is_not_retried(
    provider: MistralProvider, fake: FakeUpstream
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
    adapter = MistralProvider(SPEC, _config(f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(ProviderConnectionError):
            await adapter.complete(_ask())
    finally:
        await adapter.aclose()


# -- streaming --------------------------------------------------------------------------------


async def test_streams_deltas_then_the_whole_reply_with_usage(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(["Fe", "lix", "."], usage_body=wire.usage(30, 3)))

    events = await _collect(provider.stream(_ask()))

    assert events[:-1] == [TextDelta("Fe"), TextDelta("lix"), TextDelta(".")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.finish_reason) == ("Felix.", "stop")
    assert end.result.usage == TokenUsage(input_tokens=30, output_tokens=3)
    assert fake.last.json["stream"] is True
    assert fake.last.headers["accept"] == "text/event-stream"


async def test_first_delta_arrives_before_the_upstream_finished(
    provider: MistralProvider, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(["a", "b", "c"], chunk_delay_s=0.15))
    first_delta_at: float | None = None

    async for event in provider.stream(_ask()):
        if isinstance(event, TextDelta) and first_delta_at is None:
            first_delta_at = time.monotonic()

    assert first_delta_at is not None
    assert first_delta_at < fake.sse_finished_at[-1] - 0.2


async def test_stream_errors_are_mapped(provider: MistralProvider, fake: FakeUpstream) -> None:
    fake.enqueue(wire.error_reply(429, retry_after="3"))
    with pytest.raises(ProviderRateLimited) as caught:
        await _collect(provider.stream(_ask()))
    assert caught.value.retry_after == 3.0


async def test_a_stream_that_goes_quiet_times_out(fake: FakeUpstream) -> None:
    adapter = MistralProvider(SPEC, _config(fake.url, timeout_s=0.3))
    fake.enqueue(wire.stream_reply(["a", "b"], chunk_delay_s=0.6))
    received: list[StreamEvent] = []
    try:
        with pytest.raises(ProviderTimeout):
            await _collect(adapter.stream(_ask()), received)
    finally:
        await adapter.aclose()
    assert TextDelta("b") not in received
