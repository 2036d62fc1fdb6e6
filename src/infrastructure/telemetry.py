"""What every turn tells the operator: its fields on the request's access line and, when
tracing is on, its span.

:class:`ObservedSessionManager` is the session manager with both hooks around its two turn
methods, so the turn pipeline itself knows nothing of logs or traces. Tracing is a
:class:`TurnTracer`; without an OTLP endpoint it is :class:`NoTracing`, and OpenTelemetry is
never imported (``telemetry_otel`` holds everything that imports it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from src.domain.llm import close_stream
from src.domain.memory import MemoryPolicy
from src.domain.ports import Ports
from src.domain.session_manager import SessionManager
from src.domain.turns import SessionOpened, TurnCommand, TurnDone, TurnEvent, TurnResult
from src.infrastructure.logging_setup import annotate_request


class TurnTracer(Protocol):
    async def turn(
        self, cmd: TurnCommand, run: Callable[[], Awaitable[TurnResult]]
    ) -> TurnResult: ...

    def stream(
        self, cmd: TurnCommand, events: AsyncIterator[TurnEvent]
    ) -> AsyncIterator[TurnEvent]:
        """The same events, traced; closing the result closes ``events``."""
        ...


class NoTracing:
    async def turn(self, cmd: TurnCommand, run: Callable[[], Awaitable[TurnResult]]) -> TurnResult:
        return await run()

    def stream(
        self, cmd: TurnCommand, events: AsyncIterator[TurnEvent]
    ) -> AsyncIterator[TurnEvent]:
        return events


def turn_fields(result: TurnResult) -> dict[str, Any]:
    """A finished turn's figures for its access line: ids, names and numbers, no content."""
    usage = result.usage
    return {
        "session_id": result.session_id,
        "provider": result.provider,
        "model": result.model,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost": None if result.cost is None else float(result.cost),
        "was_summarized": result.was_summarized,
    }


class ObservedSessionManager(SessionManager):
    def __init__(
        self, ports: Ports, policy: MemoryPolicy, *, tracer: TurnTracer | None = None
    ) -> None:
        super().__init__(ports, policy)
        self._tracer: TurnTracer = tracer or NoTracing()

    async def run_turn(self, cmd: TurnCommand) -> TurnResult:
        annotate_request(tenant=cmd.owner, session_id=cmd.session_id)
        result = await self._tracer.turn(
            cmd, lambda: super(ObservedSessionManager, self).run_turn(cmd)
        )
        annotate_request(**turn_fields(result))
        return result

    async def stream_turn(self, cmd: TurnCommand) -> AsyncIterator[TurnEvent]:
        annotate_request(tenant=cmd.owner, session_id=cmd.session_id)
        events = self._tracer.stream(cmd, super().stream_turn(cmd))
        try:
            async for event in events:
                if isinstance(event, SessionOpened):
                    annotate_request(session_id=event.session_id)
                elif isinstance(event, TurnDone):
                    annotate_request(**turn_fields(event.result))
                yield event
        finally:
            await close_stream(events)
