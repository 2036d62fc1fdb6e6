from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from src.api.auth import PrincipalDep, TenantFilter
from src.api.dependencies import ServicesDep
from src.api.json_body import JsonRoute
from src.api.presenters import history_out, session_metrics_out, session_out
from src.api.routes import error_responses
from src.models.sessions import (
    CreateSessionRequest,
    HistoryResponse,
    SessionList,
    SessionMetricsResponse,
    SessionResponse,
)
from src.models.text import StorableText

router = APIRouter(prefix="/sessions", tags=["sessions"], route_class=JsonRoute)

# Bounded so that no value can overflow a database's 64-bit integers (a 500 once).
MAX_OFFSET = 2**31 - 1
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
SessionId = Annotated[StorableText, Path(max_length=256)]
UserId = Annotated[StorableText | None, Query(max_length=256)]


@router.post(
    "",
    response_model=SessionResponse,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(422),
)
async def create_session(
    services: ServicesDep, principal: PrincipalDep, body: CreateSessionRequest | None = None
) -> SessionResponse:
    body = body or CreateSessionRequest()
    session = await services.manager.create_session(
        owner=principal.tenant,
        user_id=body.user_id,
        metadata=body.metadata,
        system_prompt=body.system_prompt,
    )
    return session_out(session)


@router.get("", response_model=SessionList, responses=error_responses(422))
async def list_sessions(
    services: ServicesDep,
    tenant: TenantFilter,
    user_id: UserId = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SessionList:
    """The caller's sessions, newest first (the admin's: every tenant's, or `?tenant=`'s)."""
    sessions, total = await services.manager.list_sessions(
        owner=tenant, user_id=user_id, limit=limit, offset=offset
    )
    return SessionList(
        sessions=[session_out(s) for s in sessions], total=total, limit=limit, offset=offset
    )


@router.get("/{session_id}", response_model=SessionResponse, responses=error_responses(404, 422))
async def get_session(
    session_id: SessionId, services: ServicesDep, principal: PrincipalDep
) -> SessionResponse:
    return session_out(await services.manager.get_session(session_id, principal.scope))


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404, 409, 422),
)
async def delete_session(
    session_id: SessionId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Deletes the session, its messages and summaries (usage records stay in global metrics)."""
    await services.manager.delete_session(session_id, principal.scope)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{session_id}/history", response_model=HistoryResponse, responses=error_responses(404, 422)
)
async def history(
    session_id: SessionId,
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HistoryResponse:
    """Every stored message, oldest first, with the current summary."""
    page = await services.manager.history(
        session_id, owner=principal.scope, limit=limit, offset=offset
    )
    return history_out(page)


@router.get(
    "/{session_id}/metrics",
    response_model=SessionMetricsResponse,
    responses=error_responses(404, 422),
)
async def session_metrics(
    session_id: SessionId, services: ServicesDep, principal: PrincipalDep
) -> SessionMetricsResponse:
    """Sums of this session's provider calls, summarization included."""
    metrics = await services.manager.session_metrics(session_id, principal.scope)
    return session_metrics_out(metrics)
