"""``WS /api/ws``: the turns of ``POST /api/orchestrate`` over a WebSocket (SPEC §9).

The client authenticates with a first frame ``{"type": "auth", "token"}`` or offers the
subprotocols ``bearer, <token>``; then each ``{"type": "turn", "session_id", "message",
"agent_config"}`` runs one streamed turn through the same code path as SSE
(``turn_command``, ``SessionManager.stream_turn`` and the ``done`` payload ``turn_out``), and
its events come back as frames named like the SSE events: ``{"type": <event>, **data}``
(:func:`turn_frame`). A bad frame answers an ``error`` frame and the socket stays open.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from src.api import json_body
from src.api.auth import authenticate
from src.api.dependencies import Services
from src.api.errors import STREAM_FAILURES, error_body
from src.api.middleware import new_request_id
from src.api.presenters import turn_out
from src.api.routes.orchestrate import checked_command
from src.api.streaming import open_stream
from src.domain.errors import Unauthorized
from src.domain.identity import Principal
from src.domain.llm import TextDelta, ToolCallReady, close_stream
from src.domain.turns import SessionOpened, TurnDone, TurnEvent
from src.infrastructure.logging_setup import (
    annotate_request,
    bind_request,
    request_fields,
    unbind_request,
)
from src.models.orchestrate import OrchestrateRequest

router = APIRouter(tags=["orchestrate"])
access_log = logging.getLogger("orchestrator.access")
BEARER_SUBPROTOCOL = "bearer"
UNAUTHORIZED_CLOSE = 4401


def turn_frame(event: TurnEvent | ToolCallReady, request_id: str) -> dict[str, Any]:
    """One turn event as the frame mirroring its SSE event."""
    if isinstance(event, TextDelta):
        return {"type": "delta", "text": event.text}
    if isinstance(event, SessionOpened):
        return {"type": "session", "session_id": event.session_id}
    if isinstance(event, ToolCallReady):
        call = event.call
        return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
    assert isinstance(event, TurnDone)
    return {"type": "done", **turn_out(event.result, request_id).model_dump(mode="json")}


def _error_frame(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message, "details": details or {}}}


def _validation_frame(error: ValidationError) -> dict[str, Any]:
    problems = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "frame"
        if problem["type"] == "extra_forbidden":
            message = f"{field} is not a known field"
        else:
            message = f"{field}: {problem['msg']}"
        problems.append({"field": field, "type": problem["type"], "message": message})
    summary = "; ".join(p["message"] for p in problems)
    return _error_frame("validation_error", summary, {"errors": problems})


def _offered_token(websocket: WebSocket) -> str | None:
    offered = websocket.scope.get("subprotocols") or []
    if len(offered) >= 2 and offered[0] == BEARER_SUBPROTOCOL:
        return str(offered[1])
    return None


@router.websocket("/ws")
async def turns_over_websocket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    token = _offered_token(websocket)
    principal: Principal | None = None
    try:
        if token is not None:
            principal = await authenticate(services, token)
    except Unauthorized:
        await websocket.close(code=UNAUTHORIZED_CLOSE)
        return
    await websocket.accept(subprotocol=BEARER_SUBPROTOCOL if token is not None else None)
    try:
        while True:
            try:
                frame = json_body.loads(await websocket.receive_text())
            except json.JSONDecodeError as error:
                message = f"a frame is not JSON ({error.msg})"
                await websocket.send_json(_error_frame("invalid_request", message))
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "auth":
                try:
                    principal = await authenticate(services, frame.get("token"))
                except Unauthorized:
                    await websocket.close(code=UNAUTHORIZED_CLOSE)
                    return
                await websocket.send_json({"type": "ready"})
            elif kind == "turn":
                if principal is None:  # no credential offered: open mode, or refused
                    principal = await authenticate(services, None)
                await _turn(websocket, services, principal, frame)
            else:
                await websocket.send_json(
                    _error_frame(
                        "invalid_request", "type must be 'auth' or 'turn'", {"field": "type"}
                    )
                )
    except (WebSocketDisconnect, Unauthorized):
        return


async def _turn(
    websocket: WebSocket, services: Services, principal: Principal, frame: dict[str, Any]
) -> None:
    """One turn, with its own request id and access line, like an HTTP request."""
    request_id = new_request_id()
    bound = bind_request(request_id)
    started = time.perf_counter()
    status = "ok"
    try:
        fields = {k: v for k, v in frame.items() if k != "type"}
        try:
            body = OrchestrateRequest.model_validate(fields)
        except ValidationError as error:
            status = "validation_error"
            await websocket.send_json(_validation_frame(error))
            return
        status = await _stream(websocket, services, body, principal, request_id)
    finally:
        annotate_request(
            method="WS",
            path="/api/ws",
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        access_log.info("WS /api/ws turn %s", status, extra=request_fields())
        unbind_request(bound)


async def _stream(
    websocket: WebSocket,
    services: Services,
    body: OrchestrateRequest,
    principal: Principal,
    request_id: str,
) -> str:
    """One streamed turn as frames; its outcome's code (``ok`` or the error code)."""
    raw: AsyncIterator[TurnEvent] | None = None
    events: AsyncIterator[TurnEvent] | None = None
    try:
        command = await checked_command(body, services, None, principal)
        raw = services.manager.stream_turn(command)
        events = await open_stream(services.lifecycle, raw)
        async for event in events:
            await websocket.send_json(turn_frame(event, request_id))
    except STREAM_FAILURES as error:
        envelope = error_body(error)
        await websocket.send_json({"type": "error", **envelope})
        return str(envelope["error"]["code"])
    finally:
        for stream in (events, raw):
            if stream is not None:
                await close_stream(stream)
    return "ok"
