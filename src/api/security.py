"""Security headers on every response (SPEC §7), as a pure ASGI middleware of a few µs.

``nosniff``, ``no-referrer`` and ``DENY`` everywhere; ``Cache-Control: no-store`` on ``/api``
and ``/v1``, whose answers are one tenant's data and must stay out of shared caches (it
replaces the ``no-cache`` of event streams, which it includes).
"""

from __future__ import annotations

from src.api.middleware import ASGIApp, Message, Receive, Scope, Send

_EVERYWHERE = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_NO_STORE = (b"cache-control", b"no-store")
_PRIVATE_PREFIXES = ("/api/", "/v1/")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        private = path.startswith(_PRIVATE_PREFIXES) or path in ("/api", "/v1")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *_EVERYWHERE]
                if private:
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
