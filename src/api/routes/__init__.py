"""Routers, one module per resource."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from src.models.errors import ErrorEnvelope, OpenAIErrorEnvelope

_DESCRIPTIONS = {
    400: "The request cannot be served (`invalid_request`).",
    401: "No credential, or one unknown, revoked or expired (`unauthorized`).",
    402: "The key's recorded spend reached its budget (`budget_exceeded`).",
    403: "A tenant credential on an operator's route (`forbidden`).",
    404: "No such session or agent preset (`session_not_found`, `agent_not_found`).",
    409: "`session_busy`, `idempotency_conflict` or `agent_exists`.",
    405: "The route does not take this method (`method_not_allowed`); `Allow` lists those it does.",
    413: "The message is over MAX_MESSAGE_CHARS, or the body over its byte limit"
    " (`payload_too_large`).",
    422: "Malformed JSON, a wrong type, an unknown field, or text no database can store"
    " (`validation_error`).",
    429: "The key is over its turns or tokens per minute (`rate_limited`, `Retry-After`).",
    502: "The provider failed or rejected our key (`provider_error`).",
    503: "`provider_not_configured`, `provider_unavailable`, `service_unavailable` or"
    " `storage_unavailable`.",
    504: "The provider did not answer in time (`provider_timeout`).",
}


# Statuses whose answers may carry Retry-After (whole seconds to wait before retrying).
_RETRY_AFTER = {
    409: "With `session_busy`: seconds to wait before retrying.",
    503: "Seconds to wait before retrying (the upstream's own value when it sent one).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error envelope under the given statuses."""
    return _responses(ErrorEnvelope, statuses)


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The same, in OpenAI's error shape (``/v1``)."""
    return _responses(OpenAIErrorEnvelope, statuses)


def _responses(model: type[BaseModel], statuses: tuple[int, ...]) -> dict[int | str, Any]:
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": model, "description": _DESCRIPTIONS[status]}
        if status in _RETRY_AFTER:
            entry["headers"] = {
                "Retry-After": {
                    "description": _RETRY_AFTER[status],
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        entries[status] = entry
    return entries
