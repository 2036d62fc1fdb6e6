"""How the Gemini Developer API answers, as scripted ``Reply`` objects.

``POST /v1beta/models/{model}:generateContent`` returns a ``GenerateContentResponse``
(``candidates`` and ``usageMetadata``, whose ``promptTokenCount`` already includes
``cachedContentTokenCount`` and whose ``thoughtsTokenCount`` is reported apart from
``candidatesTokenCount``). ``:streamGenerateContent?alt=sse`` sends the same objects as
``data:`` events, each holding the next piece of text. Errors are Google's
``{"error": {"code", "message", "status", "details"}}``: 429 ``RESOURCE_EXHAUSTED`` with a
``RetryInfo`` delay in the body rather than a ``Retry-After`` header, and a bad key as
400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID`` rather than 401.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.upstream import Reply

MODEL = "gemini-3.8-flash"
RESPONSE_ID = "kDfKaPXbB6ukqtsPjrfB4Qg"


def usage(
    prompt: int,
    candidates: int,
    *,
    cached: int = 0,
    thoughts: int = 0,
) -> dict[str, Any]:
    """A ``usageMetadata`` object; ``prompt`` includes ``cached``."""
    body: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if cached:
        body["cachedContentTokenCount"] = cached
        body["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        body["thoughtsTokenCount"] = thoughts
    return body


def _response(
    text: str,
    usage_body: dict[str, Any] | None,
    finish_reason: str | None,
    model: str,
    calls: list[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """A response; ``calls`` are ``(name, args)`` ``functionCall`` parts, the first one signed
    as Gemini 3 signs it, and none with an id (the Developer API gives none)."""
    parts: list[dict[str, Any]] = [{"text": text}] if text or not calls else []
    for number, (name, args) in enumerate(calls or []):
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if number == 0:
            part["thoughtSignature"] = "Q2lRQlZLaG9mM2RkWmdpZmt4S2JOdw=="
        parts.append(part)
    candidate: dict[str, Any] = {
        "content": {"parts": parts, "role": "model"},
        "index": 0,
    }
    if finish_reason:
        candidate["finishReason"] = finish_reason
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model,
        "responseId": RESPONSE_ID,
    }
    if usage_body is not None:
        body["usageMetadata"] = usage_body
    return body


def response(
    text: str,
    *,
    usage_body: dict[str, Any] | None = None,
    model: str = MODEL,
    calls: list[tuple[str, dict[str, Any]]] | None = None,
) -> Reply:
    """A successful ``generateContent`` reply (``finishReason`` ``STOP`` even with calls)."""
    return Reply(body=_response(text, usage_body or usage(10, 5), "STOP", model, calls))


def error(
    code: int,
    status: str,
    text: str,
    *,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply(
        status=code,
        body={"error": {"code": code, "message": text, "status": status, "details": details or []}},
        headers=headers or {},
    )


def rate_limited(retry_delay_s: float) -> Reply:
    return error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}],
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{retry_delay_s:g}s",
            },
        ],
    )


def internal_error() -> Reply:
    return error(500, "INTERNAL", "An internal error has occurred. Please retry.")


def invalid_key() -> Reply:
    return error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )


def unknown_model(model: str) -> Reply:
    return error(
        404,
        "NOT_FOUND",
        f"models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent.",
    )


def malformed() -> Reply:
    """A 200 whose body is cut off mid-JSON."""
    return Reply(raw='{"candidates": [{"content": {"parts": [{"text": "Hel')


def hang(seconds: float) -> Reply:
    return Reply(hang_s=seconds, body={})


def stream(
    pieces: list[str],
    *,
    final_usage: dict[str, Any] | None = None,
    chunk_delay_s: float = 0.0,
    model: str = MODEL,
    calls: list[tuple[str, dict[str, Any]]] | None = None,
) -> Reply:
    """A ``streamGenerateContent?alt=sse`` reply: one ``data:`` event per piece, then one
    per call (Gemini streams each ``functionCall`` part whole), the last one finishing.

    Early chunks carry a partial ``usageMetadata`` (prompt only); the last one carries the
    finish reason and the complete usage, as the live API does.
    """
    complete = final_usage or usage(10, 5)
    partial = {
        "promptTokenCount": complete["promptTokenCount"],
        "totalTokenCount": complete["promptTokenCount"],
    }
    steps: list[tuple[str, list[tuple[str, dict[str, Any]]] | None]] = [(p, None) for p in pieces]
    steps += [("", [call]) for call in calls or []]
    chunks = []
    for number, (piece, call) in enumerate(steps):
        last = number == len(steps) - 1
        chunks.append(
            _response(piece, complete if last else partial, "STOP" if last else None, model, call)
        )
    return Reply(sse=chunks, chunk_delay_s=chunk_delay_s)
