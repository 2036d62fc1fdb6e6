"""One pure-ASGI middleware for what every request needs: a request id, a body size limit,
request counters and one structured access line. Pure ASGI (not BaseHTTPMiddleware) keeps
its cost to microseconds and lets streamed responses pass through untouched.

The body limit counts the bytes actually received, so a chunked body (no ``Content-Length``)
or one whose header lies is refused as soon as it passes the limit, before the rest is read
or anything is parsed; a declared ``Content-Length`` over the limit is refused unread.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from src.api.errors import envelope
from src.infrastructure.logging_setup import bind_request, request_fields, unbind_request
from src.infrastructure.metrics import RequestMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes the limit.

    An ``HTTPException``, so that the framework's body parsing lets it through to the error
    handlers (413) instead of reporting an unreadable body; this middleware answers it itself
    when it reaches here first.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("orchestrator.access")
error_log = logging.getLogger("orchestrator.api")


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: RequestMetrics, max_body_bytes: int, access_log: bool
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.log_access = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        bound = bind_request(request_id)
        header = (b"x-request-id", request_id.encode())
        status_holder = [500]
        response_started = [False]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_started[0] = True
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        limit = self.max_body_bytes
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            if self._declared_too_large(scope):
                raise BodyTooLarge(limit)
            await self.app(scope, receive_within_limit, send_with_id)
        except BodyTooLarge as error:
            if not response_started[0]:
                await _too_large(error.limit)(scope, receive, send_with_id)
        except Exception as error:  # noqa: BLE001 - the last line of defence, by design
            # Handled here rather than by an exception handler: Starlette re-raises after its
            # handler so that the server logs the traceback, and no stack trace may reach a log.
            error_log.error("unexpected %s while serving %s", type(error).__name__, request_id)
            if not response_started[0]:
                failed = envelope(500, "internal_error", "an internal error occurred")
                await failed(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_label(scope), status_holder[0], elapsed)
            if self.log_access:
                fields = {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_holder[0],
                    "duration_ms": round(elapsed * 1000, 1),
                }
                access_log.info(
                    "%(method)s %(path)s %(status)d", fields, extra=request_fields() | fields
                )
            unbind_request(bound)

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return False
        return False


def _too_large(limit: int) -> ASGIApp:
    return envelope(
        413,
        "payload_too_large",
        f"the request body is larger than {limit} bytes",
        {"limit_bytes": limit},
    )


def route_label(scope: Scope) -> str:
    """The route's full path template (``/api/sessions/{session_id}``), or ``unmatched``.

    A route of a router included with a prefix knows only its own template (``/metrics`` for
    both ``/api/metrics`` and ``/metrics``): the prefix is what precedes the part of the path
    that its pattern matches.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    pattern = getattr(route, "path_regex", None)
    if not template or pattern is None:
        return "unmatched"
    path: str = scope["path"]
    start = 0
    while start != -1:
        if pattern.match(path[start:]):
            return path[:start] + str(template)
        start = path.find("/", start + 1)
    return str(template)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _VALID_ID.match(candidate):
                return candidate
            break
    return new_request_id()


def new_request_id() -> str:
    """A request id of the service's own: 128 random bits in hex (HTTP and WebSocket turns)."""
    return secrets.token_hex(16)
