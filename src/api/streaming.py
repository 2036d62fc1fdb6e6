"""Server-Sent Events plumbing shared by ``/api/orchestrate`` and ``/v1/chat/completions``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from src.api.dependencies import Lifecycle
from src.api.errors import draining
from src.domain.turns import SessionOpened, TurnEvent


async def open_stream(
    lifecycle: Lifecycle, events: AsyncIterator[TurnEvent]
) -> AsyncIterator[TurnEvent]:
    """The turn's events, pulled up to its first piece of reply before any byte is sent, so
    that errors found before the first token (unknown session, provider not configured or
    failing, session busy) keep their HTTP status and error envelope.

    The turn stays admitted (``Lifecycle``) until the returned stream ends. A stream cut off
    at the end of the shutdown grace raises the 503 ``service_unavailable`` error, for the
    framing to send as its last event.
    """
    admitted = lifecycle.admit()
    leading: list[TurnEvent] = []
    try:
        leading.append(await anext(events))
        while isinstance(leading[-1], SessionOpened):
            leading.append(await anext(events))
    except StopAsyncIteration:
        pass
    except BaseException:
        admitted.done()
        raise

    async def stream() -> AsyncIterator[TurnEvent]:
        admitted.move_to_current_task()
        try:
            for event in leading:
                yield event
            async for event in events:
                yield event
        except asyncio.CancelledError:
            if lifecycle.was_cut_off():
                raise draining() from None
            raise
        finally:
            admitted.done()

    return stream()


def sse_response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
