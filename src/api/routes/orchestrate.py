"""``POST /api/orchestrate``: one turn of a session, answered whole or as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, TypeAdapter, ValidationError

from src.api.auth import BEARER_SECURITY, TurnContextDep
from src.api.dependencies import Services
from src.api.direct_route import DirectRoute
from src.api.errors import STREAM_FAILURES, error_body, payload_too_large
from src.api.presenters import turn_out
from src.api.routes import error_responses
from src.api.streaming import open_stream, sse_response
from src.domain.agents import AgentSettings
from src.domain.identity import OPEN_PRINCIPAL, Principal
from src.domain.llm import ImagePart, TextDelta, ToolCallReady
from src.domain.targets import parse_target
from src.domain.turns import SessionOpened, Target, ToolResult, TurnCommand, TurnDone, TurnEvent
from src.models.agents import overrides_of
from src.models.orchestrate import AgentConfig, OrchestrateRequest, OrchestrateResponse
from src.models.tools import parts_text, parts_to_domain, tool_choice_to_domain

router = APIRouter(tags=["orchestrate"], route_class=DirectRoute)

IDEMPOTENCY_KEY = "Idempotency-Key"
#: The header's value, validated (and its errors worded) by pydantic, as FastAPI's
#: ``Header(max_length=255)`` was. ``idempotency_key_of`` reads the header instead of FastAPI,
#: which spares FastAPI solving a parameter on every turn (docs/benchmarks.md, round seven).
_IDEMPOTENCY_VALUE: TypeAdapter[str] = TypeAdapter(
    Annotated[str, StringConstraints(max_length=255)]
)
_IDEMPOTENCY_DOC = "A retried request with the same key returns the first response."
#: The header as FastAPI describes an optional header parameter.
_IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "description": _IDEMPOTENCY_DOC,
    "schema": {
        "anyOf": [_IDEMPOTENCY_VALUE.json_schema(), {"type": "null"}],
        "title": IDEMPOTENCY_KEY,
        "description": _IDEMPOTENCY_DOC,
    },
}

#: A turn without ``agent_config``: it overrides nothing (read only, never changed).
_NO_CONFIG = AgentConfig()

_SSE_DOC = (
    "With `stream: true` the answer is `text/event-stream`: `event: session` "
    '`{"session_id"}`, then `event: delta` `{"text"}` chunks, then `event: done` with the full '
    "response object, or `event: error` with the error envelope."
)


def turn_command(
    body: OrchestrateRequest,
    idempotency_key: str | None,
    providers: Collection[str] = (),
    preset: AgentSettings | None = None,
    principal: Principal = OPEN_PRINCIPAL,
) -> TurnCommand:
    """The turn a request asks for, as ``principal``'s; ``providers`` (the provider names)
    read its fallbacks; ``preset`` (of ``agent_config.agent``) supplies what
    ``agent_config`` does not give."""
    config = body.agent_config or _NO_CONFIG
    base = preset or AgentSettings()
    settings = base if config is _NO_CONFIG else base.with_overrides(overrides_of(config))
    parts = parts_to_domain(body.content_parts)
    return TurnCommand(
        message=body.message if body.message is not None else parts_text(parts),
        session_id=body.session_id,
        target=Target(settings.provider, settings.model),
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        system_prompt=settings.system_prompt,
        fallbacks=tuple(Target(*parse_target(f, providers)) for f in settings.fallbacks or ()),
        idempotency_key=idempotency_key,
        tool_results=tuple(ToolResult(r.tool_call_id, r.content) for r in body.tool_results or ()),
        parts=parts if any(isinstance(p, ImagePart) for p in parts) else (),
        tools=settings.tools or (),
        tool_choice=tool_choice_to_domain(config.tool_choice),
        response_format=config.response_format.to_domain() if config.response_format else None,
        principal=principal,
    )


def idempotency_key_of(request: Request) -> str | None:
    """The request's ``Idempotency-Key``; one longer than 255 characters is refused as
    FastAPI refuses a header parameter (422 ``validation_error`` naming the header)."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    try:
        return _IDEMPOTENCY_VALUE.validate_python(key)
    except ValidationError as error:
        where = ("header", IDEMPOTENCY_KEY)
        raise RequestValidationError([{**e, "loc": where} for e in error.errors()]) from None


async def checked_command(
    body: OrchestrateRequest,
    services: Services,
    idempotency_key: str | None,
    principal: Principal,
) -> TurnCommand:
    """The turn of a request, as ``principal``'s, once its message is known to be within
    ``MAX_MESSAGE_CHARS`` and the agent preset it names, if any, is found among the
    principal's tenant's."""
    limit = services.config.max_message_chars
    if body.message is not None and len(body.message) > limit:
        raise payload_too_large("message", limit, len(body.message))
    agent = body.agent_config.agent if body.agent_config else None
    preset = await services.agents.settings_of(principal.tenant, agent)
    return turn_command(body, idempotency_key, services.providers.names, preset, principal)


@router.post(
    "/orchestrate",
    openapi_extra={**BEARER_SECURITY, "parameters": [_IDEMPOTENCY_PARAMETER]},
    response_model=OrchestrateResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": _SSE_DOC},
        **error_responses(400, 404, 409, 413, 422, 502, 503, 504),
    },
)
async def orchestrate(body: OrchestrateRequest, context: TurnContextDep, request: Request) -> Any:
    """Runs one turn: loads the session's memory, calls the provider, stores the exchange."""
    services, principal, request_id = context.services, context.principal, context.request_id
    command = await checked_command(body, services, idempotency_key_of(request), principal)
    if body.stream:
        return await _streamed(command, services, request_id)
    with services.lifecycle.turn():
        result = await services.manager.run_turn(command)
    return turn_out(result, request_id)


async def _streamed(command: TurnCommand, services: Services, request_id: str) -> Any:
    """Starts the turn before answering, so that errors found up front (unknown session,
    provider not configured, session busy) still get their HTTP status."""
    events = await open_stream(services.lifecycle, services.manager.stream_turn(command))

    async def body() -> AsyncIterator[str]:
        try:
            async for event in events:
                yield _sse(event, request_id)
        except STREAM_FAILURES as error:
            yield _event("error", error_body(error))

    return sse_response(body())


def _sse(event: TurnEvent, request_id: str) -> str:
    if isinstance(event, TextDelta):
        return _event("delta", {"text": event.text})
    if isinstance(event, SessionOpened):
        return _event("session", {"session_id": event.session_id})
    if isinstance(event, ToolCallReady):
        call = event.call
        return _event("tool_call", {"id": call.id, "name": call.name, "arguments": call.arguments})
    assert isinstance(event, TurnDone)
    return f"event: done\ndata: {turn_out(event.result, request_id).model_dump_json()}\n\n"


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
