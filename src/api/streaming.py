"""Server-Sent Events plumbing shared by ``/api/orchestrate`` and ``/v1/chat/completions``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from fastapi.responses import StreamingResponse

from src.api.dependencies import Lifecycle

T = TypeVar("T")


async def open_stream(lifecycle: Lifecycle, events: AsyncIterator[T]) -> T:
    """Admits the turn and pulls its first event before any byte is sent, so errors found up
    front (unknown session, provider not configured, session busy) keep their HTTP status.
    On success the caller owns the admission and must call ``lifecycle.done()``."""
    lifecycle.admit()
    try:
        return await anext(events)
    except BaseException:
        lifecycle.done()
        raise


def sse_response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
