"""The body limit counts the bytes received, so chunked bodies are refused early too.

Only ``Content-Length`` used to be read: a 50 MB chunked body was read and parsed whole
(RSS +110 MB) before being refused.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from src.api.middleware import RequestContextMiddleware
from src.infrastructure.metrics import RequestMetrics
from tests.fakes.upstream import FakeUpstream
from tests.hardening.processes import Replica

MB = 1024 * 1024


async def test_a_body_without_length_is_refused_once_it_passes_the_limit() -> None:
    """Driven at the ASGI level, where the chunks the server would read can be counted."""
    pulled = 0
    sent: list[dict[str, Any]] = []
    app_saw: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        app_saw.append(len(body))

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * MB, "more_body": pulled < 50}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = RequestContextMiddleware(
        app, metrics=RequestMetrics(), max_body_bytes=3 * MB, access_log=False
    )
    scope = {"type": "http", "method": "POST", "path": "/api/orchestrate", "headers": []}
    await middleware(scope, receive, send)

    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled == 4  # the first chunk past 3 MB, not the 50 MB
    assert app_saw == []  # the application never got the body


def test_a_real_server_answers_413_to_a_chunked_body_before_it_is_all_sent(tmp_path: Any) -> None:
    with FakeUpstream() as upstream:
        replica = Replica(
            f"sqlite+aiosqlite:///{tmp_path / 'o.db'}",
            upstream.url,
            RUN_MIGRATIONS_ON_START="true",
            MAX_MESSAGE_CHARS="1000",
        ).start()
        try:
            status, sent = _post_chunked(replica.port, chunks=50, chunk=MB)
        finally:
            replica.stop()

    assert status == 413
    assert sent < 10 * MB  # refused long before the 50 MB were sent


def _post_chunked(port: int, *, chunks: int, chunk: int) -> tuple[int, int]:
    """POSTs ``chunks`` chunks, stopping as soon as an answer arrives: (status, bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/orchestrate HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.setblocking(False)
        answer = b""
        for _ in range(chunks):
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65536)
            if answer:
                break
            try:
                sock.sendall(f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n")
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        sock.settimeout(10)
        while b"\r\n" not in answer:
            answer += sock.recv(65536)
    return int(answer.split(b" ", 2)[1]), sent
