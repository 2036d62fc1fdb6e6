"""How DashScope's native text-generation bodies look on the wire, for ``FakeUpstream``.

``POST {base}/services/aigc/text-generation/generation`` (base ends in ``/api/v1``) answers
``{"output": {"choices": [{"message", "finish_reason"}]}, "usage": {"input_tokens",
"output_tokens", "total_tokens", "prompt_tokens_details": {"cached_tokens"}}, "request_id"}``.
With ``X-DashScope-SSE: enable`` it streams events of ``id:``, ``event:result``, a
``:HTTP_STATUS/200`` comment and ``data:{...}``, each carrying only the new text (incremental
output) and the usage so far, ``"finish_reason": "null"`` (a string) until the last. Errors
are ``{"code", "message", "request_id"}`` with their statuses; inside a stream an error is an
``event:error`` event.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.upstream import Reply

BASE_PATH = "/api/v1"
GENERATION_PATH = f"{BASE_PATH}/services/aigc/text-generation/generation"
REQUEST_ID = "f3c7b6a2-5d1e-9c8b-a7f6-4e3d2c1b0a98"

_ERRORS = {
    400: ("InvalidParameter", "Range of input length should be [1, 129024]"),
    401: ("InvalidApiKey", "Invalid API-key provided."),
    429: ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
    500: (
        "InternalError",
        "An internal error has occured, please try again later or contact service support.",
    ),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
}


def usage(
    input_tokens: int = 20,
    output_tokens: int = 6,
    *,
    cached_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if cached_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    if reasoning_tokens is not None:
        body["output_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return body


def generation(
    text: str = "Hello from Qwen.",
    *,
    usage_body: dict[str, Any] | None = None,
    reasoning_content: str | None = None,
    finish_reason: str = "stop",
    tool_calls: list[tuple[str, str, str]] | None = None,
) -> dict[str, Any]:
    """A generation; ``tool_calls`` are ``(id, name, arguments)`` in ``output.choices[0]
    .message.tool_calls``, with ``finish_reason`` ``tool_calls``."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning_content is not None:
        message["reasoning_content"] = reasoning_content
    if tool_calls:
        message["tool_calls"] = [
            {"index": n, "id": i, "type": "function", "function": {"name": f, "arguments": a}}
            for n, (i, f, a) in enumerate(tool_calls)
        ]
        finish_reason = "tool_calls"
    return {
        "output": {"choices": [{"message": message, "finish_reason": finish_reason}]},
        "usage": usage_body if usage_body is not None else usage(),
        "request_id": REQUEST_ID,
    }


def generation_reply(text: str = "Hello from Qwen.", **kwargs: Any) -> Reply:
    return Reply(body=generation(text, **kwargs))


def _event(index: int, body: dict[str, Any], *, event: str = "result", status: int = 200) -> str:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return f"id:{index}\nevent:{event}\n:HTTP_STATUS/{status}\ndata:{data}"


def stream_reply(
    pieces: list[str],
    *,
    input_tokens: int = 20,
    cached_tokens: int | None = None,
    chunk_delay_s: float = 0.0,
    tool_calls: list[tuple[str, str, list[str]]] | None = None,
) -> Reply:
    """One event per piece, then per fragment of each call (the first names it, the next
    carry only pieces of its arguments); each reports the output tokens so far."""
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": p} for p in pieces]
    for number, (call_id, name, fragments) in enumerate(tool_calls or []):
        for count, piece in enumerate(fragments):
            function = {"name": name, "arguments": piece} if count == 0 else {"arguments": piece}
            call = {"index": number, "id": call_id if count == 0 else "", "type": "function"}
            messages.append(
                {"role": "assistant", "content": "", "tool_calls": [{**call, "function": function}]}
            )
    ending = "tool_calls" if tool_calls else "stop"
    events = []
    for index, message in enumerate(messages, start=1):
        last = index == len(messages)
        body = {
            "output": {
                "choices": [{"message": message, "finish_reason": ending if last else "null"}]
            },
            "usage": usage(input_tokens, index, cached_tokens=cached_tokens),
            "request_id": REQUEST_ID,
        }
        events.append(_event(index, body))
    return Reply(sse=events, chunk_delay_s=chunk_delay_s)


def stream_failing_reply(pieces: list[str], status: int) -> Reply:
    """Streams ``pieces`` and then an ``event:error`` event for ``status``."""
    reply = stream_reply(pieces)
    assert reply.sse is not None
    code, message = _ERRORS[status]
    error = {"code": code, "message": message, "request_id": REQUEST_ID}
    reply.sse.append(_event(len(pieces) + 1, error, event="error", status=status))
    return reply


def error_reply(
    status: int, message: str | None = None, *, retry_after: str | None = None
) -> Reply:
    """DashScope's error body for ``status`` (its own ``message`` when given, and Retry-After)."""
    code, default_message = _ERRORS[status]
    message = message or default_message
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(
        status=status,
        body={"code": code, "message": message, "request_id": REQUEST_ID},
        headers=headers,
    )


def malformed_reply() -> Reply:
    """A 200 whose JSON body is cut off."""
    return Reply(raw='{"output": {"choices": [{"message": {"role": "assistant", "con')


def hang_reply(seconds: float) -> Reply:
    return Reply(body=generation(), hang_s=seconds)
