"""Server-Sent Events plumbing shared by ``/api/orchestrate`` and ``/v1/chat/completions``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from fastapi.responses import StreamingResponse

from src.api.dependencies import Lifecycle

T = TypeVar("T")


async def open_stream(lifecycle: Lifecycle, events: AsyncIterator[T]) -> AsyncIterator[T]:
    """The turn's events, its first one already pulled before any byte is sent, so errors
    found up front (unknown session, provider not configured, session busy) keep their HTTP
    status. The turn stays admitted (``Lifecycle``) until the returned stream ends."""
    lifecycle.admit()
    try:
        first = await anext(events)
    except BaseException:
        lifecycle.done()
        raise

    async def admitted() -> AsyncIterator[T]:
        try:
            yield first
            async for event in events:
                yield event
        finally:
            lifecycle.done()

    return admitted()


def sse_response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
