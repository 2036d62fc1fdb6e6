"""AnthropicProvider through the real ``anthropic`` SDK against a wire-faithful fake."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from anthropic.types import Usage

from src.domain.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from src.domain.llm import ChatMessage, ChatRequest, StreamEnd, StreamEvent, TextDelta, TokenUsage
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.anthropic import AnthropicProvider, usage_from_anthropic
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.resilience import ResilientProvider
from src.infrastructure.pricing.price_book import JsonPriceBook
from tests.fakes import anthropic_wire as wire
from tests.fakes.upstream import FakeUpstream, Reply
from tests.providers.registered import spec_of

SPEC = spec_of("anthropic")

MODEL = "claude-sonnet-5-5"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _fresh(fake: FakeUpstream) -> None:
    fake.reset()


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


async def _drain(events: AsyncIterator[StreamEvent], into: list[StreamEvent] | None = None) -> None:
    """Consumes a stream into ``into``, keeping what arrived before a failure."""
    received = [] if into is None else into
    async for event in events:
        received.append(event)


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
        "end_turn",
    )
    assert result.usage == TokenUsage(input_tokens=100, output_tokens=7, cached_input_tokens=90)


async def test_cost_of_a_cached_reply_matches_the_price_file(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    body = wire.usage(1000, 500, cache_read=20000, cache_write=3000)
    fake.enqueue(wire.message("Sure.", usage_body=body))

    result = await provider.complete(_ask())
    price = JsonPriceBook.load().price_of("anthropic", MODEL)

    # 1000 x 2.00 + 20000 x 0.10 + 3000 x 2.50 (5-minute write) + 500 x 10.00, per million
    assert cost_of(result.usage, price) == Decimal("0.0165")


def test_every_listed_model_has_a_price() -> None:
    book = JsonPriceBook.load()

    assert [m for m in SPEC.models if book.price_of("anthropic", m) is None] == []


# -- failures ---------------------------------------------------------------------------------


async def test_rate_limit_is_transient_and_carries_retry_after(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.rate_limited(retry_after_s=7))

    with pytest.raises(ProviderRateLimited) as caught:
        await provider.complete(_ask())

    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
    assert caught.value.transient


async def test_rate_limit_then_success_is_retried_by_the_resilience_layer(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.rate_limited(retry_after_s=0), wire.message("Second time lucky."))
    resilient = ResilientProvider(provider, max_retries=2, base_delay_s=0.01)

    result = await resilient.complete(_ask())

    assert result.text == "Second time lucky."
    assert len(fake.received) == 2


@pytest.mark.parametrize(
    ("reply", "status"), [(wire.internal_error(), 500), (wire.overloaded(), 529)]
)
async def test_server_errors_and_overload_are_transient_server_errors(
    fake: FakeUpstream, provider: AnthropicProvider, reply: Reply, status: int
) -> None:
    fake.enqueue(reply)

    with pytest.raises(ProviderServerError) as caught:
        await provider.complete(_ask())

    assert caught.value.status == status
    assert caught.value.transient


async def test_rejected_key_names_the_variable_to_check(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.invalid_key())

    with pytest.raises(ProviderAuthError) as caught:
        await provider.complete(_ask())

    assert "ANTHROPIC_API_KEY" in caught.value.message
    assert caught.value.status == 401
    assert "test-key" not in caught.value.message


async def test_no_answer_within_the_time_limit_is_a_timeout(fake: FakeUpstream) -> None:
    fake.enqueue(wire.hang(1.0))
    adapter = AnthropicProvider(SPEC, _config(fake.url, timeout_s=0.3))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        await adapter.complete(_ask())

    assert time.monotonic() - started < 0.9
    assert len(fake.received) == 1  # the SDK's own retries are off
    await adapter.aclose()


async def test_malformed_body_is_a_permanent_server_error(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.malformed())

    with pytest.raises(ProviderServerError) as caught:
        await provider.complete(_ask())

    assert caught.value.status is None
    assert not caught.value.transient


async def test_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    adapter = AnthropicProvider(SPEC, _config(closed_url))

    with pytest.raises(ProviderConnectionError):
        await adapter.complete(_ask())

    await adapter.aclose()


# -- streaming --------------------------------------------------------------------------------


async def test_stream_yields_deltas_then_one_end_with_the_final_usage(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    opening = wire.usage(20, 1, cache_read=80)
    fake.enqueue(wire.stream(["AI ", "finds ", "patterns."], start_usage=opening, output_tokens=9))

    events: list[StreamEvent] = []
    await _drain(provider.stream(_ask()), events)

    assert events[:-1] == [TextDelta("AI "), TextDelta("finds "), TextDelta("patterns.")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.finish_reason) == ("AI finds patterns.", "end_turn")
    assert end.result.usage == TokenUsage(input_tokens=100, output_tokens=9, cached_input_tokens=80)
    assert fake.last.json["stream"] is True


async def test_stream_forwards_the_first_delta_before_the_upstream_finishes(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.stream(["one ", "two ", "three"], chunk_delay_s=0.1))
    first_delta_at: float | None = None

    async for event in provider.stream(_ask()):
        if isinstance(event, TextDelta) and first_delta_at is None:
            first_delta_at = time.monotonic()

    assert first_delta_at is not None
    assert first_delta_at < fake.sse_finished_at[0] - 0.3


async def test_overload_in_the_middle_of_a_stream_is_a_server_error(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.stream(["AI ", "finds "], error_after=1))
    received: list[StreamEvent] = []

    with pytest.raises(ProviderServerError) as caught:
        await _drain(provider.stream(_ask()), received)

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
        await _drain(provider.stream(_ask()), events)

    assert events == [TextDelta("AI "), TextDelta("finds ")]  # and no StreamEnd


async def test_stalled_stream_is_a_timeout(fake: FakeUpstream) -> None:
    fake.enqueue(wire.stream(["slow ", "reply"], chunk_delay_s=1.0))
    adapter = AnthropicProvider(SPEC, _config(fake.url, timeout_s=0.3))

    with pytest.raises(ProviderTimeout):
        await _drain(adapter.stream(_ask()))

    await adapter.aclose()
