"""The failure matrix every adapter shares, through its real SDK against its wire's fake.

Each case runs once per protocol description in ``contract.WIRES``: rate limits (with when
to retry, alone and then success through ``ResilientProvider``), server errors, a refused
key, a hang, a malformed body, a refused connection, and streams (deltas first, one end, a
stall).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest

from src.domain.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from src.domain.llm import ChatRequest, StreamEnd, StreamEvent, TextDelta, ToolDefinition
from src.infrastructure.llm_providers.base import ProviderAdapter
from src.infrastructure.llm_providers.resilience import ResilientProvider
from tests.fakes.upstream import FakeUpstream, Reply
from tests.providers.contract import API_KEY, OTHER_KEY, WIRES, Wire, collect

Build = Callable[..., ProviderAdapter]


@pytest.fixture(params=WIRES, ids=lambda wire: wire.name)
def wire(request: pytest.FixtureRequest) -> Wire:
    described: Wire = request.param
    return described


@pytest.fixture
async def make(wire: Wire, fake: FakeUpstream) -> AsyncIterator[Build]:
    """Builds the wire's adapter pointed at the fake, closing it after the test."""
    built: list[ProviderAdapter] = []

    def build(timeout_s: float = 2.0) -> ProviderAdapter:
        built.append(wire.build(fake.url, timeout_s=timeout_s))
        return built[-1]

    yield build
    for adapter in built:
        await adapter.aclose()


def resilient(adapter: ProviderAdapter, base_delay_s: float = 0.01) -> ResilientProvider:
    return ResilientProvider(adapter, max_retries=2, base_delay_s=base_delay_s)


# -- errors -----------------------------------------------------------------------------------


async def test_rate_limit_is_transient_and_carries_when_to_retry(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.rate_limited(7))

    with pytest.raises(ProviderRateLimited) as caught:
        await make().complete(wire.request())

    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
    assert caught.value.transient
    assert len(fake.received) == 1  # the SDK did not retry on its own


async def test_rate_limit_then_success_honours_retry_after(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.rate_limited(0.1), wire.reply("Second time lucky."))
    provider = resilient(make(), base_delay_s=5.0)

    started = time.monotonic()
    result = await provider.complete(wire.request())

    assert result.text == "Second time lucky."
    assert len(fake.received) == 2
    assert 0.1 <= time.monotonic() - started < 2.0  # Retry-After, not the 5 s backoff


async def test_server_error_is_retried_then_raised_quoting_the_upstream(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(*[wire.server_error()] * 3)

    with pytest.raises(ProviderServerError) as caught:
        await resilient(make()).complete(wire.request())

    assert (caught.value.status, caught.value.provider) == (500, wire.name)
    assert caught.value.transient
    assert wire.server_error_says in caught.value.message
    assert len(fake.received) == 3  # the call and its two retries, none by the SDK


async def test_rejected_key_names_the_variable_never_the_key_and_is_not_retried(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.invalid_key())

    with pytest.raises(ProviderAuthError) as caught:
        await resilient(make()).complete(wire.request())

    assert caught.value.status == 401
    variable = wire.entry.SPEC.key_variable
    assert variable is None or variable in caught.value.message
    assert API_KEY not in caught.value.message
    assert API_KEY not in str(caught.value.details)
    assert len(fake.received) == 1


async def test_a_hang_times_out_without_hidden_retries(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.hang(1.0))
    adapter = make(timeout_s=0.3)

    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await adapter.complete(wire.request())

    assert time.monotonic() - started < 0.9
    assert len(fake.received) == 1


async def test_malformed_body_is_a_server_error_that_is_not_retried(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.malformed())

    with pytest.raises(ProviderServerError) as caught:
        await resilient(make()).complete(wire.request())

    assert caught.value.status is None
    assert not caught.value.transient
    assert len(fake.received) == 1


@pytest.mark.parametrize(
    "body",
    [
        Reply(body={"unexpected": "body"}),
        Reply(body=[1, 2]),
        Reply(raw="null"),
        Reply(raw="<html><body>Bad gateway</body></html>", content_type="text/html"),
    ],
    ids=["object", "list", "null", "html"],
)
async def test_a_body_of_the_wrong_shape_is_a_server_error_never_a_reply(
    wire: Wire, make: Build, fake: FakeUpstream, body: Reply
) -> None:
    fake.enqueue(body)

    with pytest.raises(ProviderServerError) as caught:
        await resilient(make()).complete(wire.request())

    assert (caught.value.status, caught.value.transient) == (None, False)
    assert len(fake.received) == 1


async def test_an_empty_reply_is_a_failed_call_whole_or_streamed(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.reply(""), wire.stream([""], 0.0))
    adapter = make()

    with pytest.raises(ProviderServerError, match="empty reply"):
        await adapter.complete(wire.request())
    with pytest.raises(ProviderServerError, match="empty reply"):
        await collect(adapter.stream(wire.request()))


async def test_an_unavailable_upstream_stays_unavailable_with_its_retry_after(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(*[wire.unavailable(7)] * 2)

    with pytest.raises(ProviderOverloaded) as caught:
        await ResilientProvider(make(), max_retries=1, retry_after_cap_s=0.01).complete(
            wire.request()
        )

    assert isinstance(caught.value, ProviderUnavailable)
    assert (caught.value.status, caught.value.retry_after) == (503, 7.0)
    assert caught.value.transient
    assert len(fake.received) == 2  # retried once, after the capped Retry-After


async def test_a_rejected_request_carries_the_providers_own_words_with_keys_masked(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    leaks = (
        f"model 'nope' does not exist (key {API_KEY}, also {OTHER_KEY},"
        " xai-AbCdEf0123456789, AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv,"
        " 3f2b9c1e6d7a4b8c9e0f1a2b3c4d5e6f, dGhpcyBpcyBhIGxvbmcgdG9rZW4gMTIzNDU2Nzg5MA==)"
    )
    fake.enqueue(wire.rejected(leaks))

    with pytest.raises(ProviderRejectedRequest) as caught:
        await resilient(make()).complete(wire.request())

    said = caught.value.message
    assert "model 'nope' does not exist" in said
    for secret in (API_KEY, OTHER_KEY, "xai-AbCd", "AIzaSy", "3f2b9c1e6d7a", "dGhpcyBpcyBh"):
        assert secret not in said
    assert caught.value.status == 400
    assert len(fake.received) == 1


async def test_a_hanging_provider_fails_within_one_deadline_retries_included(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(*[wire.hang(3.0)] * 3)
    provider = ResilientProvider(make(timeout_s=0.4), max_retries=2, deadline_s=0.6)

    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await provider.complete(wire.request())

    assert time.monotonic() - started < 1.1  # not 3 attempts x 0.4 s
    assert len(fake.received) <= 2


#: A value for every option any provider declares, each one findable in a request body, and
#: the name(s) it may travel under.
OPTION_VALUES: dict[str, tuple[object, tuple[str, ...]]] = {
    "stop": (["ZZSTOP"], ("ZZSTOP",)),
    "top_p": (0.123, ("0.123",)),
    "seed": (4242, ("4242",)),
    "user": ("user-4242", ("user-4242",)),
    "presence_penalty": (0.31, ("0.31",)),
    "frequency_penalty": (0.32, ("0.32",)),
    "parallel_tool_calls": (False, ("parallel_tool_calls", "disable_parallel_tool_use")),
    "logprobs": (True, ("logprobs", "responseLogprobs")),
    "top_logprobs": (17, ("17",)),
    "logit_bias": ({"1234": -5}, ('"1234"',)),
    "reasoning_effort": ("minimal", ("minimal",)),
    "service_tier": ("flex", ("flex",)),
}


async def test_every_declared_option_reaches_the_provider(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    declared = wire.entry.SPEC.options
    assert declared <= set(OPTION_VALUES)
    fake.enqueue(wire.reply("ok"))
    base = wire.request()
    request = ChatRequest(
        base.model,
        base.messages,
        tools=(ToolDefinition("noop", "Does nothing.", {"type": "object"}),),
        options={name: OPTION_VALUES[name][0] for name in declared},
    )

    await make().complete(request)

    sent = json.dumps(fake.last.json)
    missing = [n for n in declared if not any(s in sent for s in OPTION_VALUES[n][1])]
    assert missing == []


async def test_no_request_carries_the_sdks_telemetry_of_the_host_or_the_call(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    """The Stainless SDKs' ``X-Stainless-*`` headers (the host's OS, architecture and Python,
    the SDK's retry count) stay home, whole and streamed; the key and the User-Agent that
    names the SDK still go."""
    fake.enqueue(wire.reply("ok"), wire.stream(["Fe", "lix"], 0.0))
    adapter = make()

    await adapter.complete(wire.request())
    await collect(adapter.stream(wire.request()))

    assert len(fake.received) == 2  # both requests are looked at below
    for sent in fake.received:
        assert [name for name in sent.headers if name.startswith("x-stainless-")] == []
        assert any(API_KEY in value for value in sent.headers.values())
        assert sent.headers["user-agent"]


async def test_refused_connection_is_a_transient_connection_error_at_once(wire: Wire) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    adapter = wire.build(closed_url)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderConnectionError) as caught:
            await adapter.complete(wire.request())
    finally:
        await adapter.aclose()

    assert caught.value.transient
    assert time.monotonic() - started < 0.9  # no hidden retries


# -- streaming --------------------------------------------------------------------------------


async def test_streams_deltas_then_one_end_with_the_reported_usage(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream(["Fe", "lix", "."], 0.0))

    events = await collect(make().stream(wire.request()))

    assert events[:-1] == [TextDelta("Fe"), TextDelta("lix"), TextDelta(".")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.finish_reason) == ("Felix.", wire.finish_reason)
    assert end.result.usage == wire.stream_usage


async def test_first_delta_arrives_before_the_upstream_finished(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream(["a", "b", "c", "d"], 0.1))
    first: StreamEvent | None = None
    finished_by_then: list[float] = []

    async for event in make().stream(wire.request()):
        if first is None:
            first, finished_by_then = event, list(fake.sse_finished_at)

    assert first == TextDelta("a")
    assert finished_by_then == []  # the upstream was still sending
    assert len(fake.sse_finished_at) == 1  # read to its end, so no stream outlives the test


async def test_rate_limit_before_a_stream_starts_is_mapped(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.rate_limited(3))
    events: list[StreamEvent] = []

    with pytest.raises(ProviderRateLimited) as caught:
        await collect(make().stream(wire.request()), events)

    assert (events, caught.value.retry_after) == ([], 3.0)
    assert caught.value.transient


async def test_a_stream_that_goes_quiet_times_out(
    wire: Wire, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream(["a", "b"], 0.6))
    events: list[StreamEvent] = []

    with pytest.raises(ProviderTimeout):
        await collect(make(timeout_s=0.3).stream(wire.request()), events)

    # Text sent before the pause was forwarded; nothing after it, and no end.
    assert events == ([TextDelta("a")] if wire.text_leads else [])
