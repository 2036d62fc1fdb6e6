"""How Mistral's chat-completions bodies look on the wire, for ``FakeUpstream``.

``POST /v1/chat/completions`` answers a ``chat.completion`` body whose usage carries
``prompt_tokens_details.cached_tokens`` on a cache hit; Magistral models answer with a list of
``thinking``/``text`` chunks instead of a string. A stream is ``data: {...}`` chunks with the
usage in the last one, then ``data: [DONE]``. Errors are
``{"object": "error", "message", "type", "param", "code"}`` with their statuses (401 is a
bare ``{"message", "request_id"}``) and Retry-After on 429.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.upstream import Reply

CHAT_PATH = "/v1/chat/completions"

_ERRORS = {
    400: ("invalid_request_error", "3001", "Invalid model: no-such-model"),
    422: ("invalid_request_error", "3051", "Prompt contains too many tokens"),
    429: ("rate_limited", "1300", "Requests rate limit exceeded"),
    500: ("internal_server_error", "1000", "Internal server error"),
    503: ("service_unavailable", "1100", "Service unavailable"),
}


def usage(
    prompt_tokens: int = 12,
    completion_tokens: int = 5,
    *,
    cached_tokens: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return body


def thinking_content(thought: str, answer: str) -> list[dict[str, Any]]:
    """A Magistral message content: a thinking chunk, then the answer as a text chunk."""
    return [
        {"type": "thinking", "thinking": [{"type": "text", "text": thought}]},
        {"type": "text", "text": answer},
    ]


def completion(
    content: str | list[dict[str, Any]] = "Bonjour.",
    *,
    model: str = "mistral-small-2603",
    usage_body: dict[str, Any] | None = None,
    finish_reason: str = "stop",
    tool_calls: list[tuple[str, str, str]] | None = None,
) -> dict[str, Any]:
    """A completion; ``tool_calls`` are ``(id, name, arguments)`` with Mistral's nine-character
    ids, ``finish_reason`` ``tool_calls`` and an empty ``content``."""
    return {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion",
        "created": 1_762_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "tool_calls": _calls(tool_calls) if tool_calls else None,
                },
                "finish_reason": "tool_calls" if tool_calls else finish_reason,
            }
        ],
        "usage": usage_body if usage_body is not None else usage(),
    }


def _calls(calls: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}, "index": index}
        for index, (i, n, a) in enumerate(calls)
    ]


def chat_reply(content: str | list[dict[str, Any]] = "Bonjour.", **kwargs: Any) -> Reply:
    return Reply(body=completion(content, **kwargs))


def _chunk(
    delta: dict[str, Any],
    *,
    model: str,
    finish_reason: str | None = None,
    usage_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion.chunk",
        "created": 1_762_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage_body is not None:
        chunk["usage"] = usage_body
    return chunk


def stream_reply(
    pieces: list[str],
    *,
    model: str = "mistral-small-2603",
    usage_body: dict[str, Any] | None = None,
    chunk_delay_s: float = 0.0,
    tool_calls: list[tuple[str, str, str]] | None = None,
) -> Reply:
    """A role chunk, one chunk per piece, the tool calls (Mistral streams each call whole in
    one delta), an empty finishing chunk carrying the usage, and ``data: [DONE]``."""
    events: list[Any] = [_chunk({"role": "assistant", "content": ""}, model=model)]
    events += [_chunk({"content": piece}, model=model) for piece in pieces]
    events += [
        _chunk({"content": "", "tool_calls": [call]}, model=model)
        for call in _calls(tool_calls or [])
    ]
    events.append(
        _chunk(
            {"content": ""},
            model=model,
            finish_reason="tool_calls" if tool_calls else "stop",
            usage_body=usage_body if usage_body is not None else usage(),
        )
    )
    events.append("data: [DONE]")
    return Reply(sse=events, chunk_delay_s=chunk_delay_s)


def error_reply(
    status: int, message: str | None = None, *, retry_after: str | None = None
) -> Reply:
    """Mistral's error body for ``status`` (its own ``message`` when given, and Retry-After)."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    if status == 401:
        body: dict[str, Any] = {
            "message": "Unauthorized",
            "request_id": "1d9c1a3e2a4b4f6c9b8e7d6c5b4a3f2e",
        }
    else:
        error_type, code, default_message = _ERRORS[status]
        body = {
            "object": "error",
            "message": message or default_message,
            "type": error_type,
            "param": None,
            "code": code,
        }
    return Reply(status=status, body=body, headers=headers)


def malformed_reply() -> Reply:
    """A 200 whose JSON body is cut off."""
    return Reply(raw='{"id": "cmpl-e5cc70bb", "object": "chat.completion", "choices": [')


def hang_reply(seconds: float) -> Reply:
    return Reply(body=completion(), hang_s=seconds)
