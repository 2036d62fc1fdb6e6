"""``/api/admin/keys``: the operator issues, lists and revokes API keys (admin key only)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Response, status

from src.api.auth import admin_principal
from src.api.dependencies import ServicesDep
from src.api.json_body import JsonRoute
from src.api.presenters import money
from src.api.routes import error_responses
from src.domain.identity import ApiKey, Limits
from src.models.keys import CreateKeyRequest, KeyCreated, KeyList, KeyOut, KeyStatusOut

router = APIRouter(
    prefix="/admin/keys",
    tags=["admin"],
    dependencies=[Depends(admin_principal)],
    route_class=JsonRoute,
)


@router.post(
    "",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 422),
)
async def create_key(body: CreateKeyRequest, services: ServicesDep) -> KeyCreated:
    """Issues a key. Its secret is in this response only: the service keeps a digest."""
    budget = None if body.budget_usd is None else Decimal(str(body.budget_usd))
    issued = await services.keys.issue(
        body.name,
        tenant=body.tenant,
        limits=Limits(body.rate_limit_rpm, body.token_limit_tpm, budget),
        expires_at=body.expires_at,
    )
    return KeyCreated(**_fields(issued.key), key=issued.secret)


@router.get("", response_model=KeyList)
async def list_keys(services: ServicesDep) -> KeyList:
    """Every key, revoked ones included, with its spend so far; never a secret."""
    statuses = await services.keys.list()
    return KeyList(
        keys=[
            KeyStatusOut(**_fields(s.key), active=s.active, spent_usd=float(s.spent_usd))
            for s in statuses
        ]
    )


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
async def revoke_key(key_id: str, services: ServicesDep) -> Response:
    """Revokes at once on every replica (keys are read through the database per request)."""
    await services.keys.revoke(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _fields(key: ApiKey) -> dict[str, Any]:
    return KeyOut(
        id=key.id,
        name=key.name,
        tenant=key.tenant,
        prefix=key.prefix,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        rate_limit_rpm=key.limits.rate_limit_rpm,
        token_limit_tpm=key.limits.token_limit_tpm,
        budget_usd=money(key.limits.budget_usd),
    ).model_dump()
