"""How OpenAI chat-completions bodies look on the wire, for ``FakeUpstream``.

Covers the shapes the OpenAI-compatible vendors really send: usage with
``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``,
DeepSeek's ``prompt_cache_hit_tokens``/``prompt_cache_miss_tokens``, ``reasoning_content``
on messages and stream deltas, SSE streams ending with a usage chunk and ``data: [DONE]``
(or, like Moonshot, with usage inside the last choice), and error bodies
``{"error": {"message", "type", "param", "code"}}`` with their statuses and Retry-After.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.upstream import Received, Reply

CHAT_PATH = "/chat/completions"

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    503: ("server_error", "overloaded"),
}


def usage(
    prompt_tokens: int = 12,
    completion_tokens: int = 5,
    *,
    cached_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    cache_hit_miss: tuple[int, int] | None = None,
    reasoning_outside_completion: bool = False,
) -> dict[str, Any]:
    """A usage object. ``cache_hit_miss`` adds DeepSeek's split of the prompt;
    ``reasoning_outside_completion`` totals like xAI (prompt + completion + reasoning)."""
    body: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens
        + completion_tokens
        + (reasoning_tokens or 0 if reasoning_outside_completion else 0),
    }
    if cached_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    if reasoning_tokens is not None:
        body["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    if cache_hit_miss is not None:
        body["prompt_cache_hit_tokens"], body["prompt_cache_miss_tokens"] = cache_hit_miss
    return body


def completion(
    text: str = "Hello there.",
    *,
    model: str = "test-model",
    usage_body: dict[str, Any] | None = None,
    with_usage: bool = True,
    reasoning_content: str | None = None,
    finish_reason: str = "stop",
    tool_calls: list[tuple[str, str, str]] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` body; ``tool_calls`` are ``(id, name, arguments)``, sent as
    OpenAI does: ``content`` null, ``finish_reason`` ``tool_calls``."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning_content is not None:
        message["reasoning_content"] = reasoning_content
    if tool_calls:
        message["content"] = text or None
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in tool_calls
        ]
        finish_reason = "tool_calls"
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if with_usage:
        body["usage"] = usage_body if usage_body is not None else usage()
    return body


def chat_reply(text: str = "Hello there.", **kwargs: Any) -> Reply:
    return Reply(body=completion(text, **kwargs))


def _chunk(
    delta: dict[str, Any], *, model: str, finish_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _tool_call_chunks(
    index: int, call_id: str, name: str, fragments: list[str], *, model: str
) -> list[dict[str, Any]]:
    """One call as OpenAI streams it: the first delta names it with empty arguments, the
    next ones carry only ``index`` and a piece of the arguments."""
    first = {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    pieces = [{"index": index, "function": {"arguments": piece}} for piece in fragments]
    return [
        _chunk({"role": "assistant", "content": None, "tool_calls": [part]}, model=model)
        if part is first
        else _chunk({"tool_calls": [part]}, model=model)
        for part in [first, *pieces]
    ]


def stream_reply(
    pieces: list[str],
    *,
    model: str = "test-model",
    usage_body: dict[str, Any] | None = None,
    with_usage: bool = True,
    usage_in_choice: bool = False,
    reasoning: list[str] | None = None,
    chunk_delay_s: float = 0.0,
    tool_calls: list[tuple[str, str, list[str]]] | None = None,
) -> Reply:
    """An SSE stream: role chunk, reasoning deltas, content deltas, a finish chunk, the usage
    chunk (``choices: []``; or, with ``usage_in_choice``, inside the finish chunk's choice
    as Moonshot does) and ``data: [DONE]``."""
    events: list[Any] = [_chunk({"role": "assistant", "content": ""}, model=model)]
    events += [_chunk({"reasoning_content": r}, model=model) for r in reasoning or []]
    events += [_chunk({"content": piece}, model=model) for piece in pieces]
    for index, (call_id, name, fragments) in enumerate(tool_calls or []):
        events += _tool_call_chunks(index, call_id, name, fragments, model=model)
    finish = _chunk({}, model=model, finish_reason="tool_calls" if tool_calls else "stop")
    the_usage = usage_body if usage_body is not None else usage()
    if with_usage and usage_in_choice:
        finish["choices"][0]["usage"] = the_usage
    events.append(finish)
    if with_usage and not usage_in_choice:
        events.append(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [],
                "usage": the_usage,
            }
        )
    events.append("data: [DONE]")
    return Reply(sse=events, chunk_delay_s=chunk_delay_s)


def error_reply(
    status: int,
    message: str = "something went wrong",
    *,
    retry_after: str | None = None,
) -> Reply:
    """An OpenAI error body with its status (and Retry-After when given)."""
    error_type, code = _ERROR_TYPES.get(status, ("api_error", None))
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(
        status=status,
        body={"error": {"message": message, "type": error_type, "param": None, "code": code}},
        headers=headers,
    )


def xai_error_reply(status: int, message: str) -> Reply:
    """xAI's error body, whose ``error`` is the message itself:
    ``{"code": "Client specified an invalid argument", "error": "..."}``."""
    return Reply(
        status=status,
        body={"code": "Client specified an invalid argument", "error": message},
    )


def malformed_reply() -> Reply:
    """A 200 whose JSON body is cut off."""
    return Reply(raw='{"id": "chatcmpl-test", "choices": [{"message": ')


def hang_reply(seconds: float) -> Reply:
    return Reply(body=completion(), hang_s=seconds)


def echo(received: Received) -> Reply:
    """Default responder: answers with the last user message, streaming when asked."""
    body = received.json if isinstance(received.json, dict) else {}
    users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    text = f"echo: {users[-1] if users else ''}"
    model = body.get("model", "test-model")
    if body.get("stream"):
        return stream_reply([text], model=model)
    return chat_reply(text, model=model)
