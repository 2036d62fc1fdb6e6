"""The OpenAI-compatible vendors through the real openai SDK against a fake upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from src.domain.errors import (
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderUnavailable,
)
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    StreamEnd,
    TextDelta,
    TokenUsage,
    ToolDefinition,
)
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider
from src.infrastructure.llm_providers.registry import ProviderEntry
from src.infrastructure.llm_providers.resilience import CircuitBreaker, ResilientProvider
from src.infrastructure.pricing.price_book import DatedPriceBook
from tests.fakes import openai_wire as wire
from tests.fakes.upstream import FakeUpstream, Reply
from tests.providers.contract import collect
from tests.providers.registered import PRICED_AT, entry

API_KEY = "sk-test-secret-123"
OPENAI, GROK, DEEPSEEK, KIMI, OLLAMA = map(entry, ("openai", "grok", "deepseek", "kimi", "ollama"))
VENDORS = [OPENAI, GROK, DEEPSEEK, KIMI, OLLAMA]
vendors = pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.SPEC.name)

CONTEXT = (
    ChatMessage("system", "You are terse."),
    ChatMessage("system", "Summary of the earlier conversation:\nThe user likes cats."),
    ChatMessage("user", "Name a cat."),
    ChatMessage("assistant", "Tom."),
    ChatMessage("user", "Another one?"),
)


@pytest.fixture(autouse=True)
def _echo(fake: FakeUpstream) -> None:
    """Answers what was not scripted with the last user message."""
    fake.default = wire.echo


Vendor = ProviderEntry
Build = Callable[..., OpenAICompatibleProvider]


@pytest.fixture
async def make(fake: FakeUpstream) -> AsyncIterator[Build]:
    """Builds adapters pointed at the fake, closing them after the test."""
    built: list[OpenAICompatibleProvider] = []

    def build(vendor: Vendor, timeout_s: float = 5.0) -> OpenAICompatibleProvider:
        config = ProviderConfig(api_key=API_KEY, base_url=fake.url, timeout_s=timeout_s)
        adapter = vendor.load()(vendor.SPEC, config)
        assert isinstance(adapter, OpenAICompatibleProvider)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        await adapter.aclose()


def resilient(adapter: OpenAICompatibleProvider, **kwargs: object) -> ResilientProvider:
    options: dict[str, Any] = {"max_retries": 2, "base_delay_s": 0.01, **kwargs}
    return ResilientProvider(adapter, **options)


def request(vendor: Vendor, **kwargs: object) -> ChatRequest:
    options: dict[str, Any] = {"messages": CONTEXT, **kwargs}
    return ChatRequest(model=vendor.SPEC.default_model, **options)


# -- what is sent ------------------------------------------------------------------------


@vendors
async def test_sends_the_context_in_order_with_the_key(
    vendor: Vendor, make: Build, fake: FakeUpstream
) -> None:
    result = await make(vendor).complete(request(vendor, temperature=0.3, max_tokens=50))

    sent = fake.last
    assert sent.path.endswith("/chat/completions")
    assert sent.json["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "system", "content": "Summary of the earlier conversation:\nThe user likes cats."},
        {"role": "user", "content": "Name a cat."},
        {"role": "assistant", "content": "Tom."},
        {"role": "user", "content": "Another one?"},
    ]
    assert sent.json["model"] == vendor.SPEC.default_model
    assert sent.json["temperature"] == 0.3
    limit = "max_completion_tokens" if vendor is OPENAI else "max_tokens"
    assert sent.json[limit] == 50
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert result.text == "echo: Another one?"


async def test_leaves_optional_parameters_out_when_not_given(
    make: Build, fake: FakeUpstream
) -> None:
    await make(OPENAI).complete(request(OPENAI))

    assert set(fake.last.json) == {"model", "messages"}


@pytest.mark.parametrize("base_path", ["/v1", "/v1/", "/proxy/openai/v1"])
async def test_the_base_url_path_comes_before_the_endpoint(
    fake: FakeUpstream, base_path: str
) -> None:
    config = ProviderConfig(api_key=API_KEY, base_url=fake.url + base_path)
    adapter = OPENAI.load()(OPENAI.SPEC, config)
    try:
        await adapter.complete(request(OPENAI))
        await collect(adapter.stream(request(OPENAI)))
    finally:
        await adapter.aclose()

    expected = base_path.rstrip("/") + "/chat/completions"
    assert [r.path for r in fake.received] == [expected, expected]


async def test_the_body_arrives_as_built_whatever_it_holds(make: Build, fake: FakeUpstream) -> None:
    """Encoded by orjson, or by the SDK where orjson cannot (an integer beyond 64 bits)."""
    text = 'Grüße, 你好 \u2028 "quoted" \\ back\\slash \U0001f600'
    beyond_64_bits = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 10**30}}}
    adapter = make(OPENAI)
    for schema in ({"type": "object", "properties": {}}, beyond_64_bits):
        tools = (ToolDefinition("count", "Counts.", schema),)
        await adapter.complete(request(OPENAI, messages=(ChatMessage("user", text),), tools=tools))

        sent = fake.last
        assert sent.headers["content-type"] == "application/json"
        assert sent.json["messages"] == [{"role": "user", "content": text}]
        assert sent.json["tools"][0]["function"]["parameters"] == schema


# -- usage and cost ----------------------------------------------------------------------


@dataclass(frozen=True)
class Golden:
    usage: dict[str, Any]
    expected: TokenUsage
    cost: Decimal


GOLDEN = {
    "openai": Golden(
        wire.usage(1000, 200, cached_tokens=400, reasoning_tokens=50),
        TokenUsage(1000, 200, cached_input_tokens=400, reasoning_tokens=50),
        Decimal("0.00138"),  # 600 x 0.75 + 400 x 0.075 + 200 x 4.50, per million
    ),
    "grok": Golden(
        wire.usage(
            1000, 200, cached_tokens=400, reasoning_tokens=50, reasoning_outside_completion=True
        ),
        TokenUsage(1000, 250, cached_input_tokens=400, reasoning_tokens=50),
        Decimal("0.001455"),  # 600 x 1.25 + 400 x 0.20 + 250 x 2.50
    ),
    "deepseek": Golden(
        wire.usage(1000, 200, reasoning_tokens=50, cache_hit_miss=(400, 600)),
        TokenUsage(1000, 200, cached_input_tokens=400, reasoning_tokens=50),
        Decimal("0.0004224"),  # 600 x 0.30 + 400 x 0.006 + 200 x 1.20
    ),
    "kimi": Golden(
        wire.usage(1000, 200, cached_tokens=400),
        TokenUsage(1000, 200, cached_input_tokens=400),
        Decimal("0.001434"),  # 600 x 0.95 + 400 x 0.16 + 200 x 4.00
    ),
    "ollama": Golden(wire.usage(1000, 200), TokenUsage(1000, 200), Decimal(0)),
}


@vendors
async def test_maps_usage_and_prices_it_exactly(
    vendor: Vendor, make: Build, fake: FakeUpstream
) -> None:
    golden = GOLDEN[vendor.SPEC.name]
    fake.enqueue(wire.chat_reply("Felix.", usage_body=golden.usage))

    result = await make(vendor).complete(request(vendor))

    assert result.usage == golden.expected
    price = DatedPriceBook.load().price_of(vendor.SPEC.name, vendor.SPEC.default_model, PRICED_AT)
    assert cost_of(result.usage, price) == golden.cost


async def test_missing_usage_is_estimated(make: Build, fake: FakeUpstream) -> None:
    fake.enqueue(wire.chat_reply("Felix the cat.", with_usage=False))

    result = await make(OPENAI).complete(request(OPENAI))

    assert result.usage.estimated
    assert result.usage.output_tokens == 4  # 14 characters / 4, rounded up
    assert result.usage.input_tokens > 0


# -- errors ------------------------------------------------------------------------------


async def test_upstream_messages_never_carry_the_key(make: Build, fake: FakeUpstream) -> None:
    fake.enqueue(wire.error_reply(400, f"model not found for key {API_KEY}"))

    with pytest.raises(ProviderRejectedRequest) as caught:
        await make(OPENAI).complete(request(OPENAI))

    assert "model not found" in caught.value.message
    assert API_KEY not in caught.value.message
    assert caught.value.status == 400


async def test_a_body_without_choices_is_a_server_error(make: Build, fake: FakeUpstream) -> None:
    fake.enqueue(Reply(body={"id": "x", "object": "chat.completion", "choices": []}))

    with pytest.raises(ProviderServerError) as caught:
        await make(OPENAI).complete(request(OPENAI))

    assert caught.value.status is None


async def test_open_circuit_fails_fast_without_calling_upstream(
    make: Build, fake: FakeUpstream
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10.0, clock=lambda: now[0])
    provider = resilient(make(OPENAI), max_retries=0, breaker=breaker)
    fake.enqueue(*[wire.error_reply(500, "boom")] * 2)
    for _ in range(2):
        with pytest.raises(ProviderServerError):
            await provider.complete(request(OPENAI))

    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(request(OPENAI))
    assert len(fake.received) == 2  # nothing new reached the upstream
    assert caught.value.retry_after == 10.0

    now[0] = 10.0  # cool-down over: one trial call goes through and closes the circuit
    result = await provider.complete(request(OPENAI))
    assert result.text == "echo: Another one?"
    assert len(fake.received) == 3
    assert provider.is_healthy


# -- streaming ---------------------------------------------------------------------------


@vendors
async def test_a_stream_asks_for_its_usage(vendor: Vendor, make: Build, fake: FakeUpstream) -> None:
    fake.enqueue(wire.stream_reply(["Felix."], usage_body=wire.usage(30, 3)))

    events = await collect(make(vendor).stream(request(vendor)))

    assert fake.last.json["stream"] is True
    assert fake.last.json["stream_options"] == {"include_usage": True}
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.usage == TokenUsage(30, 3)


async def test_stream_without_usage_is_estimated(make: Build, fake: FakeUpstream) -> None:
    fake.enqueue(wire.stream_reply(["Felix."], with_usage=False))

    events = await collect(make(OPENAI).stream(request(OPENAI)))

    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.usage.estimated
    assert end.result.usage.output_tokens == 2


async def test_stream_reads_usage_inside_the_last_choice(make: Build, fake: FakeUpstream) -> None:
    fake.enqueue(wire.stream_reply(["ok"], usage_body=wire.usage(9, 1), usage_in_choice=True))

    events = await collect(make(KIMI).stream(request(KIMI)))

    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.usage == TokenUsage(9, 1)


async def test_stream_failing_before_its_first_event_is_retried(
    make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.error_reply(500, "boom"), wire.stream_reply(["fine"]))

    events = await collect(resilient(make(DEEPSEEK)).stream(request(DEEPSEEK)))

    assert events[0] == TextDelta("fine")
    assert len(fake.received) == 2


# -- reasoning ---------------------------------------------------------------------------

REASONING_VENDORS = pytest.mark.parametrize(
    ("vendor", "sends_back"), [(DEEPSEEK, False), (KIMI, True)]
)


@REASONING_VENDORS
async def test_keeps_reasoning_and_sends_it_back_only_where_required(
    vendor: Vendor, sends_back: bool, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply("42.", reasoning_content="Six times seven."))
    adapter = make(vendor)

    first = await adapter.complete(request(vendor))
    assert first.reasoning_content == "Six times seven."

    history = (
        ChatMessage("user", "What is 6x7?"),
        ChatMessage("assistant", first.text, first.reasoning_content),
        ChatMessage("user", "And 6x8?"),
    )
    await adapter.complete(request(vendor, messages=history))

    assistant = fake.last.json["messages"][1]
    assert assistant["content"] == "42."
    assert ("reasoning_content" in assistant) is sends_back
    if sends_back:
        assert assistant["reasoning_content"] == "Six times seven."


@REASONING_VENDORS
async def test_streamed_reasoning_is_kept_but_not_streamed_as_text(
    vendor: Vendor, sends_back: bool, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(["42."], reasoning=["Six ", "times seven."]))

    events = await collect(make(vendor).stream(request(vendor)))

    assert events[0] == TextDelta("42.")
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.reasoning_content == "Six times seven."
    assert end.result.text == "42."
