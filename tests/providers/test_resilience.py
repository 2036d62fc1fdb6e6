"""Retries and the circuit breaker, around a scripted in-process provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from src.domain.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    LLMProvider,
    ProviderSpec,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TokenUsage,
)
from src.infrastructure.llm_providers.resilience import (
    BreakerState,
    CircuitBreaker,
    ResilientProvider,
)

REQUEST = ChatRequest(model="m", messages=(ChatMessage("user", "hi"),))
OK = ChatResult(text="ok", model="m", usage=TokenUsage(1, 1))


class Scripted:
    """Fails with the queued errors, then answers; streams fail before or after a delta."""

    spec = ProviderSpec(name="scripted", default_model="m", models=("m",), key_variable="K")

    def __init__(self, *errors: ProviderError, fail_mid_stream: ProviderError | None = None):
        self.errors = list(errors)
        self.fail_mid_stream = fail_mid_stream
        self.calls = 0
        self.closed = False

    async def complete(self, request: ChatRequest) -> ChatResult:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return OK

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        yield TextDelta("o")
        if self.fail_mid_stream:
            raise self.fail_mid_stream
        yield TextDelta("k")
        yield StreamEnd(OK)

    async def aclose(self) -> None:
        self.closed = True


async def drain(events: AsyncIterator[StreamEvent], into: list[StreamEvent]) -> None:
    async for event in events:
        into.append(event)


def server_error() -> ProviderServerError:
    return ProviderServerError("scripted", "boom", status=500)


def wrap(inner: Scripted, **kwargs: object) -> ResilientProvider:
    options: dict[str, Any] = {"max_retries": 2, "base_delay_s": 0.001, **kwargs}
    return ResilientProvider(inner, **options)


def test_is_an_llm_provider() -> None:
    assert isinstance(wrap(Scripted()), LLMProvider)


@pytest.mark.parametrize(
    "error",
    [
        server_error(),
        ProviderRateLimited("scripted", "429", status=429),
        ProviderTimeout("scripted", "slow"),
        ProviderConnectionError("scripted", "reset"),
    ],
    ids=["5xx", "429", "timeout", "connection"],
)
async def test_transient_errors_are_retried(error: ProviderError) -> None:
    inner = Scripted(error, error)

    assert await wrap(inner).complete(REQUEST) == OK
    assert inner.calls == 3


async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    last = ProviderServerError("scripted", "last", status=503)
    inner = Scripted(server_error(), server_error(), last, server_error())

    with pytest.raises(ProviderServerError) as caught:
        await wrap(inner).complete(REQUEST)

    assert caught.value is last
    assert inner.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        ProviderRejectedRequest("scripted", "bad model", status=404),
        ProviderAuthError("scripted", "K", status=401),
        ProviderServerError("scripted", "unreadable body", status=None),
    ],
    ids=["rejected", "auth", "malformed"],
)
async def test_errors_that_cannot_succeed_are_not_retried(error: ProviderError) -> None:
    inner = Scripted(error)

    with pytest.raises(type(error)):
        await wrap(inner).complete(REQUEST)

    assert inner.calls == 1


async def test_retry_after_is_honoured_but_capped() -> None:
    inner = Scripted(ProviderRateLimited("scripted", "429", retry_after=3600))

    started = time.monotonic()
    await wrap(inner, retry_after_cap_s=0.05, base_delay_s=10).complete(REQUEST)

    assert 0.05 <= time.monotonic() - started < 1


async def test_stream_is_retried_when_it_fails_before_its_first_event() -> None:
    inner = Scripted(server_error())

    events = [e async for e in wrap(inner).stream(REQUEST)]

    assert events == [TextDelta("o"), TextDelta("k"), StreamEnd(OK)]
    assert inner.calls == 2


async def test_stream_is_not_retried_once_text_was_yielded() -> None:
    inner = Scripted(fail_mid_stream=server_error())
    seen: list[StreamEvent] = []

    with pytest.raises(ProviderServerError):
        await drain(wrap(inner).stream(REQUEST), into=seen)

    assert seen == [TextDelta("o")]
    assert inner.calls == 1


async def test_aclose_closes_the_inner_provider() -> None:
    inner = Scripted()

    await wrap(inner).aclose()

    assert inner.closed


# -- circuit breaker ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def fail_times(provider: ResilientProvider, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ProviderError):
            await provider.complete(REQUEST)


async def test_opens_after_the_threshold_and_fails_fast() -> None:
    clock = Clock()
    inner = Scripted(*[server_error() for _ in range(3)])
    provider = wrap(inner, max_retries=0, breaker=CircuitBreaker(3, 30.0, clock))
    await fail_times(provider, 2)
    assert provider.is_healthy

    await fail_times(provider, 1)
    clock.now += 10
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(REQUEST)

    assert inner.calls == 3  # the fast failure never reached the provider
    assert caught.value.retry_after == pytest.approx(20.0)
    assert not caught.value.transient
    assert provider.breaker.state is BreakerState.OPEN
    assert not provider.is_healthy


async def test_failures_are_counted_per_call_after_retries() -> None:
    inner = Scripted(*[server_error() for _ in range(6)])
    provider = wrap(inner, max_retries=2, breaker=CircuitBreaker(2, 30.0, Clock()))

    await fail_times(provider, 2)

    assert inner.calls == 6
    assert provider.breaker.state is BreakerState.OPEN


async def test_half_open_trial_success_closes_the_circuit() -> None:
    clock = Clock()
    inner = Scripted(server_error(), server_error())
    provider = wrap(inner, max_retries=0, breaker=CircuitBreaker(2, 30.0, clock))
    await fail_times(provider, 2)

    clock.now += 30
    assert provider.breaker.state is BreakerState.HALF_OPEN
    assert provider.is_healthy
    assert await provider.complete(REQUEST) == OK

    assert provider.breaker.state is BreakerState.CLOSED
    assert inner.calls == 3


async def test_half_open_trial_failure_reopens_for_a_new_cooldown() -> None:
    clock = Clock()
    inner = Scripted(*[server_error() for _ in range(3)])
    provider = wrap(inner, max_retries=0, breaker=CircuitBreaker(2, 30.0, clock))
    await fail_times(provider, 2)
    clock.now += 30

    await fail_times(provider, 1)  # the trial
    clock.now += 29
    with pytest.raises(ProviderUnavailable):
        await provider.complete(REQUEST)

    assert inner.calls == 3


def test_half_open_lets_one_trial_through_at_a_time() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock)
    breaker.record(server_error())
    clock.now += 5

    breaker.admit("p")
    with pytest.raises(ProviderUnavailable):
        breaker.admit("p")
    breaker.release()  # the trial was cancelled: the next call may try
    breaker.admit("p")


async def test_request_errors_do_not_count_and_reset_the_count() -> None:
    rejected = ProviderRejectedRequest("scripted", "too long", status=400)
    inner = Scripted(server_error(), rejected, server_error(), rejected, rejected)
    provider = wrap(inner, max_retries=0, breaker=CircuitBreaker(2, 30.0, Clock()))

    await fail_times(provider, 5)

    assert provider.breaker.state is BreakerState.CLOSED


async def test_a_stream_failing_mid_way_counts_as_a_failure() -> None:
    inner = Scripted(fail_mid_stream=server_error())
    provider = wrap(inner, breaker=CircuitBreaker(1, 30.0, Clock()))

    with pytest.raises(ProviderServerError):
        await drain(provider.stream(REQUEST), into=[])

    assert provider.breaker.state is BreakerState.OPEN


# -- what is logged ------------------------------------------------------------------------


async def test_a_retry_and_the_circuit_opening_and_closing_each_log_one_line_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    secret = ProviderServerError("scripted", "boom: key sk-live-123456789", status=500)
    inner = Scripted(secret, secret)
    provider = wrap(inner, max_retries=1, breaker=CircuitBreaker(1, 30.0, clock))
    caplog.set_level("INFO", logger="orchestrator.providers")

    await fail_times(provider, 1)  # one failed attempt, one retry, then the circuit opens
    clock.now += 30
    assert await provider.complete(REQUEST) == OK  # the trial closes it

    lines = [r.getMessage() for r in caplog.records if r.name == "orchestrator.providers"]
    assert len(lines) == 3, lines
    retry, opened, closed = lines
    assert "retrying scripted" in retry and "attempt 1" in retry
    assert "ProviderServerError" in retry
    assert "circuit opened" in opened and "scripted" in opened and "30s" in opened
    assert "circuit closed" in closed and "scripted" in closed
    assert not any("sk-live" in line or "boom" in line for line in lines)


async def test_the_deadline_bounds_backoff_too_and_keeps_the_last_real_error() -> None:
    inner = Scripted(ProviderRateLimited("scripted", "429", status=429, retry_after=5.0))
    provider = wrap(inner, max_retries=3, deadline_s=1.0)

    started = time.monotonic()
    with pytest.raises(ProviderRateLimited):
        await provider.complete(REQUEST)

    assert time.monotonic() - started < 0.5  # no 5 s wait past the 1 s deadline
    assert inner.calls == 1


async def test_the_deadline_counts_the_first_attempts_time_before_a_retry() -> None:
    class SlowThenLimited(Scripted):
        async def complete(self, request: ChatRequest) -> ChatResult:
            await asyncio.sleep(0.3)
            return await super().complete(request)

    # 0.3 s spent of a 0.5 s deadline: a 0.3 s wait would end past it, so none is made.
    inner = SlowThenLimited(ProviderRateLimited("scripted", "429", status=429, retry_after=0.3))
    provider = wrap(inner, max_retries=3, deadline_s=0.5)

    with pytest.raises(ProviderRateLimited):
        await provider.complete(REQUEST)

    assert inner.calls == 1


async def test_a_retried_call_waits_and_logs_by_its_real_attempt_numbers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = [ProviderServerError("scripted", "500", status=500) for _ in range(2)]
    inner = Scripted(*errors)
    provider = wrap(inner, max_retries=2)
    caplog.set_level("WARNING", logger="orchestrator.providers")

    assert await provider.complete(REQUEST) == OK

    assert inner.calls == 3
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert ["attempt 1" in retries[0], "attempt 2" in retries[1]] == [True, True], retries


async def test_a_provider_hanging_past_the_deadline_fails_with_a_timeout_at_the_deadline() -> None:
    class Hanging(Scripted):
        async def complete(self, request: ChatRequest) -> ChatResult:
            self.calls += 1
            await asyncio.sleep(30)
            return OK

    inner = Hanging()
    provider = wrap(inner, deadline_s=0.2)

    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"within 0\.2s"):
        await provider.complete(REQUEST)

    assert time.monotonic() - started < 1.0
    assert inner.calls == 1
    assert provider.breaker.state is BreakerState.CLOSED  # one outage, below the threshold
