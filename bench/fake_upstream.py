"""A fast fake OpenAI-compatible upstream: ``python -m bench.fake_upstream --port 0``.

It must never be the bottleneck, so it is a raw ``asyncio.Protocol`` (on uvloop when
installed) that answers every ``POST .../chat/completions`` with one precomputed
``chat.completion`` body, after a configurable latency. ``POST /__bench/latency`` with a
body of whole milliseconds changes that latency while it runs, so one process serves every
stage. It prints ``READY <port>`` once listening and stops on SIGTERM or SIGINT.

HTTP/1.1 keep-alive with ``Content-Length`` bodies only (what the openai SDK, wrk and the
Python load generator send); anything chunked is refused with 411.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import cast

# Short, so the gateway's summaries (which must be shorter than what they replace) succeed.
REPLY_TEXT = "AI learns patterns from examples."
LATENCY_PATH = b"/__bench/latency"
CHAT_SUFFIX = b"/chat/completions"
_MAX_HEADER_BYTES = 64 * 1024


def _response(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n".encode()
        + b"content-type: "
        + content_type
        + b"\r\n\r\n"
    )
    return head + body


COMPLETION = _response(
    "200 OK",
    json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-5.4-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY_TEXT},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48},
        },
        separators=(",", ":"),
    ).encode(),
)
NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
NOT_FOUND = _response("404 Not Found", b'{"error":{"message":"not found"}}')
LENGTH_REQUIRED = _response("411 Length Required", b"", b"text/plain")


class Upstream:
    """The state shared by every connection: the current latency."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s


class UpstreamProtocol(asyncio.Protocol):
    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (request := self._next_request()) is not None:
            self._answer(*request)
        if len(self._buffer) > _MAX_HEADER_BYTES and b"\r\n\r\n" not in self._buffer:
            self._close()

    def _next_request(self) -> tuple[bytes, bytes, bytes] | None:
        """(method, path, body) of the first complete request in the buffer, consumed."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        method, _, target = lines[0].partition(b" ")
        path = target.partition(b" ")[0]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                length = -1
        if length < 0:
            self._buffer.clear()
            self._send(LENGTH_REQUIRED)
            self._close()
            return None
        if len(self._buffer) < end + 4 + length:
            return None
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        return method, path, body

    def _answer(self, method: bytes, path: bytes, body: bytes) -> None:
        if method == b"POST" and path.endswith(CHAT_SUFFIX):
            latency = self._upstream.latency_s
            if latency > 0:
                asyncio.get_running_loop().call_later(latency, self._send, COMPLETION)
            else:
                self._send(COMPLETION)
        elif method == b"POST" and path == LATENCY_PATH:
            self._upstream.latency_s = int(body or b"0") / 1000
            self._send(NO_CONTENT)
        else:
            self._send(NOT_FOUND)

    def _send(self, payload: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(payload)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve(port: int, latency_ms: int) -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream(latency_ms / 1000)
    server = await loop.create_server(
        lambda: UpstreamProtocol(upstream), "127.0.0.1", port, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await stop.wait()


def _run(port: int, latency_ms: int) -> None:
    try:
        import uvloop
    except ImportError:  # plain asyncio is slower but still far faster than the gateway
        asyncio.run(serve(port, latency_ms))
    else:
        uvloop.run(serve(port, latency_ms))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args(argv)
    _run(args.port, args.latency_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
