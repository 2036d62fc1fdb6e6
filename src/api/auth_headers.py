"""``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` on every answer to a limited key.

A pure ASGI middleware: when the response starts, the request's principal (set by the
authentication dependency) is known, and so is the effect of the turn it ran, so the figures
are read then. ``Reset`` is in seconds from now. The three headers describe the turns window
when the key has ``rate_limit_rpm``, else its tokens window; a key with both also gets the
tokens window as ``X-RateLimit-*-Tokens``.
"""

from __future__ import annotations

import math

from src.api.middleware import ASGIApp, Message, Receive, Scope, Send
from src.domain.admission import Admission, Quota
from src.domain.identity import Principal


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                principal = scope.get("state", {}).get("principal")
                if (
                    isinstance(principal, Principal)
                    and principal.key_id is not None
                    and principal.limits.windowed
                ):
                    quotas = await self.admission.quotas(principal.key_id, principal.limits)
                    message["headers"] = [*message.get("headers", []), *_headers(quotas)]
            await send(message)

        await self.app(scope, receive, send_with_quota)


def _headers(quotas: list[Quota]) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for index, quota in enumerate(quotas):
        suffix = "" if index == 0 else "-Tokens"
        for name, value in (
            ("Limit", quota.limit),
            ("Remaining", quota.remaining),
            ("Reset", max(0, math.ceil(quota.reset_s))),
        ):
            headers.append((f"x-ratelimit-{name.lower()}{suffix.lower()}".encode(), b"%d" % value))
    return headers
