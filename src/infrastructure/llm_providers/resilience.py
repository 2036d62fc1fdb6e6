"""Retries and a circuit breaker around any provider adapter.

Only errors marked ``transient`` (429, 5xx, timeouts, dropped connections) are retried, after
the upstream's Retry-After when it sent one (capped), else after an exponential backoff with
jitter. The SDKs' own retries are off, so the two never multiply. A stream is retried only
while it has yielded nothing: once text reached the client, a retry would repeat it.

One deadline bounds a call, retries and waits included (``deadline_s``, the registry passes
``PROVIDER_TIMEOUT_S``): a hanging provider fails once it passes, and a retry whose wait would
end past it is not made, so the caller gets the last real error at once.

The first attempt is made directly; tenacity's controller is built only once it has failed
with a transient error, and is handed that failure as its own first attempt, so waits, logs
and the deadline see the same attempts as if it had made them all. Building the controller
for every call cost about 2 % of a turn's instructions (docs/benchmarks.md), for the rare
call that needs it.

Each retry, and each opening and closing of the circuit, is logged in one line naming the
provider and the error's type (never its text, which may quote the upstream).

The breaker counts consecutive failed calls (after their retries). Errors that prove the
upstream answered (a rejected request, a refused key) reset the count instead: the provider
is healthy, the request or configuration is not. After ``failure_threshold`` failures the
circuit opens and calls fail fast with ``ProviderUnavailable``; after ``cooldown_s`` one trial
call goes through (half-open) and its outcome closes or reopens the circuit.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from src.domain.errors import (
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    LLMProvider,
    ProviderSpec,
    StreamEvent,
    close_stream,
)

T = TypeVar("T")

log = logging.getLogger("orchestrator.providers")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Fails fast while a provider keeps failing; one trial call after each cool-down."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def is_healthy(self) -> bool:
        return self.state is not BreakerState.OPEN

    def admit(self, provider: str) -> None:
        """Raises ``ProviderUnavailable`` unless a call may go to the upstream now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return
        assert self._opened_at is not None
        remaining = max(self._opened_at + self.cooldown_s - self._clock(), 0.0)
        raise ProviderUnavailable(
            provider,
            f"{provider} is failing repeatedly; calls are paused for {remaining:.0f}s",
            retry_after=remaining,
        )

    def record(self, error: BaseException | None) -> None:
        """The outcome of an admitted call: ``None`` for success."""
        self._trial_running = False
        if error is None or not counts_as_outage(error):
            self._failures = 0
            self._opened_at = None
            return
        self._failures += 1
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()

    def release(self) -> None:
        """An admitted call ended without an outcome (cancelled): let the next one try."""
        self._trial_running = False


def counts_as_outage(error: BaseException) -> bool:
    """Whether an error says the provider is down, rather than our request being wrong."""
    return isinstance(error, ProviderServerError | ProviderTimeout | ProviderUnavailable)


class ResilientProvider:
    """An ``LLMProvider`` that retries transient failures of ``inner`` behind a breaker."""

    def __init__(
        self,
        inner: LLMProvider,
        *,
        max_retries: int = 2,
        retry_after_cap_s: float = 30.0,
        base_delay_s: float = 0.5,
        breaker: CircuitBreaker | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self._inner = inner
        self._cap_s = retry_after_cap_s
        self._deadline_s = deadline_s
        self._attempts = stop_after_attempt(max_retries + 1)
        self._retry = retry_if_exception(_is_transient)
        self._backoff = wait_exponential_jitter(
            initial=base_delay_s, max=retry_after_cap_s, jitter=base_delay_s
        )
        self.breaker = breaker or CircuitBreaker()

    @property
    def spec(self) -> ProviderSpec:
        return self._inner.spec

    @property
    def is_healthy(self) -> bool:
        return self.breaker.is_healthy

    async def complete(self, request: ChatRequest) -> ChatResult:
        return await self._guarded(lambda: self._inner.complete(request))

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        events, first = await self._guarded(lambda: self._first_event(request))
        try:
            yield first
            async for event in events:
                yield event
        except Exception as error:  # failed mid-stream: too late to retry, but it counts
            self._record(error)
            raise
        finally:
            await close_stream(events)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` with retries, admitted by the breaker and reported to it."""
        self.breaker.admit(self.spec.name)
        try:
            result = await self._within_deadline(call)
        except Exception as error:
            self._record(error)
            raise
        except BaseException:
            self.breaker.release()
            raise
        self._record(None)
        return result

    async def _within_deadline(self, call: Callable[[], Awaitable[T]]) -> T:
        deadline = asyncio.timeout(self._deadline_s)
        try:
            async with deadline:
                return await self._retrying(call, deadline.when())
        except TimeoutError:
            if not deadline.expired():
                raise
            name = self.spec.name
            raise ProviderTimeout(
                name, f"{name} did not answer within {self._deadline_s:g}s"
            ) from None

    async def _retrying(self, call: Callable[[], Awaitable[T]], deadline_at: float | None) -> T:
        try:
            return await call()
        except Exception as error:
            if not _is_transient(error):
                raise
            failure: Exception | None = error

        async def attempt() -> T:
            # The controller's first attempt is the one already made: its failure, replayed.
            nonlocal failure
            if failure is not None:
                replayed, failure = failure, None
                raise replayed
            return await call()

        # A controller of its own (it keeps the call's attempt count); the strategies it
        # shares with other calls are stateless.
        retrying = AsyncRetrying(
            stop=self._attempts | _PastDeadline(deadline_at),
            retry=self._retry,
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for state in retrying:
            with state:
                return await attempt()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _record(self, error: BaseException | None) -> None:
        """Reports an outcome to the breaker, logging when it opens or closes the circuit."""
        before = self.breaker.state
        self.breaker.record(error)
        after = self.breaker.state
        if after is before or (before, after) == (BreakerState.OPEN, BreakerState.HALF_OPEN):
            return
        name = self.spec.name
        if after is BreakerState.CLOSED:
            log.info("circuit closed: %s answers again", name)
        elif before is not BreakerState.OPEN:
            log.warning(
                "circuit opened: %s failed repeatedly (last: %s); calls paused for %gs",
                name,
                type(error).__name__,
                self.breaker.cooldown_s,
            )

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying %s: attempt %d failed with %s; next in %.2fs",
            self.spec.name,
            state.attempt_number,
            type(error).__name__,
            state.upcoming_sleep,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float):
            return min(float(retry_after), self._cap_s)
        return self._backoff(state)

    async def _first_event(
        self, request: ChatRequest
    ) -> tuple[AsyncIterator[StreamEvent], StreamEvent]:
        """Opens the inner stream up to its first event: the part that may be retried."""
        events = aiter(self._inner.stream(request))
        try:
            first = await anext(events)
        except StopAsyncIteration:
            name = self.spec.name
            raise ProviderServerError(name, f"{name} ended the stream without a reply") from None
        except BaseException:
            await close_stream(events)
            raise
        return events, first


class _PastDeadline(stop_base):
    """Stops where the next wait would end past the call's deadline (an event-loop time, as
    ``asyncio.timeout`` keeps it; ``None``: no deadline), the first attempt's time included."""

    def __init__(self, deadline_at: float | None) -> None:
        self._deadline_at = deadline_at

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self._deadline_at is None:
            return False
        wait = retry_state.upcoming_sleep
        return asyncio.get_running_loop().time() + wait >= self._deadline_at


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.transient
