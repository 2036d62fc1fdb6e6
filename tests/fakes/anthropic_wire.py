"""How Anthropic's Messages API (``POST /v1/messages``) answers, as scripted ``Reply`` objects.

Bodies follow the API reference: a ``message`` object whose ``usage.input_tokens`` counts only
the uncached part of the prompt (cache reads and writes are reported beside it); errors as
``{"type": "error", "error": {"type", "message"}}`` with the documented status per type
(``rate_limit_error`` 429 with ``retry-after``, ``overloaded_error`` 529...); streams as named
Server-Sent Events ``message_start`` ... ``message_stop`` with ``ping`` events in between.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.upstream import Reply

MODEL = "claude-sonnet-5-5"
MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fy"

ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def usage(
    input_tokens: int,
    output_tokens: int,
    *,
    cache_read: int = 0,
    cache_write: int = 0,
    thinking_tokens: int | None = None,
) -> dict[str, Any]:
    """A ``usage`` object; ``input_tokens`` excludes the cached and cache-written tokens."""
    body: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    if thinking_tokens is not None:
        body["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    return body


def message(
    text: str,
    *,
    model: str = MODEL,
    usage_body: dict[str, Any] | None = None,
    stop_reason: str = "end_turn",
    tool_uses: list[tuple[str, str, dict[str, Any]]] | None = None,
) -> Reply:
    """A successful non-streaming reply with one text block (none when empty and there are
    ``tool_uses``: ``(id, name, input)`` blocks, with ``stop_reason`` ``tool_use``)."""
    content: list[dict[str, Any]] = (
        [{"type": "text", "text": text}] if text or not tool_uses else []
    )
    content += [
        {"type": "tool_use", "id": i, "name": n, "input": arguments}
        for i, n, arguments in tool_uses or []
    ]
    return Reply(
        body={
            "id": MESSAGE_ID,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if tool_uses else stop_reason,
            "stop_sequence": None,
            "usage": usage_body or usage(12, 6),
        },
        headers={"request-id": REQUEST_ID},
    )


def error_body(error_type: str, text: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": text},
        "request_id": REQUEST_ID,
    }


def error(
    error_type: str,
    text: str,
    *,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> Reply:
    """An error reply with the status Anthropic documents for ``error_type`` (or ``status``:
    a 503 comes from the edge in front of the API, with Anthropic's body shape)."""
    return Reply(
        status=status or ERROR_STATUS[error_type],
        body=error_body(error_type, text),
        headers={"request-id": REQUEST_ID, **(headers or {})},
    )


def rate_limited(retry_after_s: float) -> Reply:
    return error(
        "rate_limit_error",
        "This request would exceed your organization's rate limit of 50 requests per minute.",
        headers={
            "retry-after": f"{retry_after_s:g}",
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
        },
    )


def overloaded() -> Reply:
    return error("overloaded_error", "Overloaded")


def internal_error() -> Reply:
    return error("api_error", "Internal server error")


def invalid_key() -> Reply:
    return error("authentication_error", "invalid x-api-key")


def malformed() -> Reply:
    """A 200 whose body is cut off mid-JSON, as a broken proxy may send."""
    return Reply(raw='{"id": "msg_01", "type": "message", "content": [{"type": "te')


def hang(seconds: float) -> Reply:
    """Answers only after ``seconds``: longer than the client's time-out."""
    return Reply(hang_s=seconds, body={})


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _tool_use_events(index: int, call_id: str, name: str, fragments: list[str]) -> list[str]:
    """A ``tool_use`` block as Anthropic streams it: opened with an empty ``input``, its JSON
    in ``input_json_delta`` pieces (the first one empty), closed."""
    block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    deltas = [
        _event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            },
        )
        for piece in ["", *fragments]
    ]
    return [
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        ),
        *deltas,
        _event("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def stream(
    pieces: list[str],
    *,
    model: str = MODEL,
    start_usage: dict[str, Any] | None = None,
    output_tokens: int = 6,
    chunk_delay_s: float = 0.0,
    error_after: int | None = None,
    tool_uses: list[tuple[str, str, list[str]]] | None = None,
) -> Reply:
    """A streamed reply whose text arrives in ``pieces``, then ``tool_uses`` ``(id, name,
    input JSON pieces)``, each its own content block streamed as ``input_json_delta``.

    ``message_start`` carries the input usage (and a provisional ``output_tokens``);
    ``message_delta`` carries the final, cumulative ``output_tokens``. With ``error_after``
    an ``overloaded_error`` event replaces the rest of the stream after that many pieces.
    """
    opening = start_usage or usage(12, 1)
    events = [
        _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": MESSAGE_ID,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": opening,
                },
            },
        ),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _event("ping", {"type": "ping"}),
    ]
    for number, piece in enumerate(pieces):
        if error_after is not None and number == error_after:
            events.append(_event("error", error_body("overloaded_error", "Overloaded")))
            return Reply(sse=events, chunk_delay_s=chunk_delay_s)
        events.append(
            _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    for index, (call_id, name, fragments) in enumerate(tool_uses or [], start=1):
        events += _tool_use_events(index, call_id, name, fragments)
    events += [
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "tool_use" if tool_uses else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": output_tokens},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return Reply(sse=events, chunk_delay_s=chunk_delay_s, headers={"request-id": REQUEST_ID})
