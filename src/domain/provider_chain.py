"""The one fallback loop: a turn's call walks its provider chain until one answers.

A whole turn and a streamed turn walk the chain the same way; they differ only in whether each
attempt is a ``complete`` (one ``StreamEnd``) or a ``stream`` (deltas, then ``StreamEnd``). The
next route is tried after a provider error, unless the request itself was rejected (it would
be rejected again) or part of the reply was already forwarded (it cannot be taken back).

The chain does not write anything: every failed attempt is priced into ``failures`` (the
turn's own list of calls) for the
turn's settlement to store, whatever becomes of the turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from src.domain.accounting import CallAccountant
from src.domain.entities import CallRecord
from src.domain.errors import ProviderError, ProviderRejectedRequest
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    LLMProvider,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallReady,
    close_stream,
)
from src.domain.ports import Clock, ProviderDirectory
from src.domain.tokens import estimated_usage


@dataclass(frozen=True, slots=True)
class Route:
    """A provider by name and a model (None: the provider's default)."""

    provider: str
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply of the attempt that answered, and where it came from."""

    provider: str
    model: str
    result: ChatResult
    started: float
    fallback_from: str | None
    interrupted: bool = False


@dataclass(slots=True)
class _Attempt:
    route: Route
    model: str
    request: ChatRequest
    started: float
    fallback_from: str | None
    parts: list[str] = field(default_factory=list)


class ChainRun:
    """One walk down a chain; iterate :meth:`events` once.

    ``request_for(model)`` builds the request for the model an attempt resolves to, so each
    route gets its own model name in an otherwise identical request. Each failed attempt's
    record is appended to ``failures`` as it happens.
    """

    def __init__(
        self,
        *,
        providers: ProviderDirectory,
        accounts: CallAccountant,
        clock: Clock,
        routes: Sequence[Route],
        session_id: str | None,
        request_for: Callable[[str], ChatRequest],
        streaming: bool,
        failures: list[CallRecord],
    ) -> None:
        self._providers = providers
        self._accounts = accounts
        self._clock = clock
        self._routes = routes
        self._session_id = session_id
        self._request_for = request_for
        self._streaming = streaming
        self._attempt: _Attempt | None = None
        self.failures = failures

    async def events(self) -> AsyncIterator[TextDelta | ToolCallReady | Answer]:
        """Forwarded deltas and tool calls, then one ``Answer``; raises the last error."""
        for index, route in enumerate(self._routes):
            started = self._clock.monotonic()
            model = route.model or ""
            forwarded = False
            try:
                provider = self._providers.get(route.provider)
                model = route.model or provider.spec.default_model
                fallback_from = self._routes[0].provider if index else None
                attempt = _Attempt(route, model, self._request_for(model), started, fallback_from)
                self._attempt = attempt
                source = self._source(provider, attempt.request)
                try:
                    async for event in source:
                        if isinstance(event, StreamEnd):
                            yield Answer(
                                route.provider, model, event.result, started, fallback_from
                            )
                            return
                        if isinstance(event, TextDelta):
                            attempt.parts.append(event.text)
                        forwarded = True
                        yield event
                finally:
                    await close_stream(source)
            except ProviderError as error:
                self.failures.append(
                    self._accounts.failed(
                        self._session_id, "turn", route.provider, model, error, started
                    )
                )
                if forwarded or not may_fall_back(error, index, len(self._routes)):
                    raise
        raise AssertionError("unreachable: the last route re-raises")  # pragma: no cover

    def interrupted(self) -> Answer | None:
        """The attempt under way when the consumer left, as a partial reply with estimated
        usage; None when no attempt had started."""
        attempt = self._attempt
        if attempt is None:
            return None
        text = "".join(attempt.parts)
        result = ChatResult(
            text=text,
            model=attempt.model,
            usage=estimated_usage(attempt.request, text),
            finish_reason="interrupted",
        )
        return Answer(
            attempt.route.provider,
            attempt.model,
            result,
            attempt.started,
            attempt.fallback_from,
            interrupted=True,
        )

    def _source(self, provider: LLMProvider, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return provider.stream(request) if self._streaming else _whole(provider, request)


async def _whole(provider: LLMProvider, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """A ``complete`` call seen as a stream of one ``StreamEnd``."""
    yield StreamEnd(await provider.complete(request))


def may_fall_back(error: ProviderError, index: int, routes: int) -> bool:
    return index + 1 < routes and not isinstance(error, ProviderRejectedRequest)
