"""Routers, one module per resource."""

from __future__ import annotations

from typing import Any

from src.models.errors import ErrorEnvelope

_DESCRIPTIONS = {
    400: "The request cannot be served (`invalid_request`).",
    404: "No such session or agent preset (`session_not_found`, `agent_not_found`).",
    409: "`session_busy`, `idempotency_conflict` or `agent_exists`.",
    413: "The message is over MAX_MESSAGE_CHARS (`payload_too_large`).",
    422: "Malformed JSON, a wrong type or an unknown field (`validation_error`).",
    502: "The provider failed or rejected our key (`provider_error`).",
    503: "`provider_not_configured`, `provider_unavailable` or `service_unavailable`.",
    504: "The provider did not answer in time (`provider_timeout`).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error envelope under the given statuses."""
    return {s: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[s]} for s in statuses}
