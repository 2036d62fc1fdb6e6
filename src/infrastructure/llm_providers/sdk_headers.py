"""The telemetry headers that the Stainless-generated SDKs (``openai``, ``anthropic``) add to
every request, which the gateway leaves out.

Seven describe the calling host: the SDK's language, version and async library, and the
host's operating system, architecture, Python runtime and its version. Two or three describe
the call: the SDK's retry count (always 0 here, since the SDK's retries are off and the
gateway retries itself), its read time-out and, in ``anthropic``, its time-out. None of them
changes what a provider answers; together they tell every upstream what the gateway runs on,
and they cost a provider call about a sixth of its instructions, since the SDK and its HTTP
stack handle every header several times over (docs/benchmarks.md, round eleven). The SDKs
take ``Omit`` for a header as "do not send it", in the client's default headers and in a
request's own.

What stays is what a provider reads: the key, the content type and what is accepted, the
API version (Anthropic's) and the ``User-Agent`` that names the SDK and its version.
"""

from __future__ import annotations

from typing import Any

#: The headers that describe the host, set by the client once (its ``platform_headers``).
PLATFORM = (
    "X-Stainless-Lang",
    "X-Stainless-Package-Version",
    "X-Stainless-OS",
    "X-Stainless-Arch",
    "X-Stainless-Runtime",
    "X-Stainless-Runtime-Version",
    "X-Stainless-Async",
)
#: The headers that describe the call, set by the client for each request.
PER_CALL = ("X-Stainless-Retry-Count", "X-Stainless-Read-Timeout", "X-Stainless-Timeout")


def omitted(names: tuple[str, ...], omit: object) -> dict[str, Any]:
    """``names``, each mapped to the SDK's own ``omit`` (each SDK knows only its own). The
    values are typed loosely because the clients' constructors declare their default headers
    as strings, though they take ``Omit`` there as a request's headers do."""
    return dict.fromkeys(names, omit)
