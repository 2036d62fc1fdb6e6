"""A local HTTP server that plays a provider's part in tests.

It records every request it receives (so a test can assert the exact context sent) and answers
with scripted replies: JSON bodies, error bodies with status and headers, Server-Sent Events
with pauses between chunks, malformed bodies, or a hang. Protocol modules beside this one
(``openai_wire`` ...) only know how each provider's bodies look; this module knows HTTP.

It runs uvicorn in a background thread on a free loopback port, so the real SDKs talk to it
over real sockets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """One scripted answer.

    ``body`` is sent as JSON unless ``raw`` is given; ``sse`` (a list of already formatted
    ``data: ...`` blocks, or JSON-able objects) makes it an event stream with ``chunk_delay_s``
    between chunks; ``hang_s`` waits before answering at all.
    """

    status: int = 200
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sse: list[Any] | None = None
    chunk_delay_s: float = 0.0
    hang_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    @property
    def json(self) -> Any:
        return self.body


Responder = Callable[[Received], Reply]


class FakeUpstream:
    """Start with ``with FakeUpstream(default) as fake:``; ``fake.url`` is its base URL."""

    def __init__(self, default: Responder | None = None) -> None:
        self.default = default
        self.queue: collections.deque[Reply] = collections.deque()
        self.received: list[Received] = []
        self.sse_finished_at: list[float] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "DELETE", "PUT"])]
        )
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]})
        self._thread.daemon = True

    # -- scripting ------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Replies served in order before ``default`` is used again."""
        with self._lock:
            self.queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.received.clear()
            self.sse_finished_at.clear()

    @property
    def last(self) -> Received:
        return self.received[-1]

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:  # pragma: no cover
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._sock.close()

    # -- serving --------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        received = Received(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        with self._lock:
            self.received.append(received)
            reply = self.queue.popleft() if self.queue else None
        if reply is None:
            if self.default is None:
                return Response(status_code=500, content=b'{"error":"no scripted reply"}')
            reply = self.default(received)
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        if reply.sse is not None:
            return StreamingResponse(
                self._events(reply),
                status_code=reply.status,
                headers=reply.headers,
                media_type="text/event-stream",
            )
        content = reply.raw if reply.raw is not None else json.dumps(reply.body)
        return Response(
            content=content,
            status_code=reply.status,
            headers=reply.headers,
            media_type=reply.content_type,
        )

    async def _events(self, reply: Reply) -> AsyncIterator[bytes]:
        assert reply.sse is not None
        for index, chunk in enumerate(reply.sse):
            if index and reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
            if isinstance(chunk, str):
                text = chunk if chunk.endswith("\n\n") else chunk + "\n\n"
            else:
                text = f"data: {json.dumps(chunk)}\n\n"
            yield text.encode()
        self.sse_finished_at.append(time.monotonic())
