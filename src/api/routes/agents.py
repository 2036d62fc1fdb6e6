"""``/api/agents``: a tenant's stored agent presets, which ``agent_config.agent`` names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from src.api.auth import PrincipalDep
from src.api.dependencies import ServicesDep
from src.api.errors import ApiError
from src.api.json_body import JsonRoute
from src.api.routes import error_responses
from src.models.agents import (
    AGENT_NAME_PATTERN,
    AgentList,
    AgentResponse,
    CreateAgentRequest,
    ReplaceAgentRequest,
)

router = APIRouter(prefix="/agents", tags=["agents"], route_class=JsonRoute)


async def preset_tenant(principal: PrincipalDep) -> str:
    """The tenant whose presets a request reads and writes (every route here and a turn's
    ``agent_config.agent``): the caller's own, the admin's being ``default``."""
    return principal.tenant


TenantDep = Annotated[str, Depends(preset_tenant)]
NameParam = Annotated[str, Path(pattern=AGENT_NAME_PATTERN, examples=["support-bot"])]


@router.post(
    "",
    response_model=AgentResponse,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409, 422),
)
async def create_agent(
    body: CreateAgentRequest, services: ServicesDep, tenant: TenantDep
) -> AgentResponse:
    """Stores a preset under a name not yet taken in the tenant (else 409 `agent_exists`)."""
    preset = await services.agents.create(tenant, body.name, body.settings())
    return AgentResponse.of(preset)


@router.get("", response_model=AgentList)
async def list_agents(services: ServicesDep, tenant: TenantDep) -> AgentList:
    """The tenant's presets, by name."""
    return AgentList(agents=[AgentResponse.of(p) for p in await services.agents.list(tenant)])


@router.get("/{name}", response_model=AgentResponse, responses=error_responses(404, 422))
async def get_agent(name: NameParam, services: ServicesDep, tenant: TenantDep) -> AgentResponse:
    return AgentResponse.of(await services.agents.get(tenant, name))


@router.put("/{name}", response_model=AgentResponse, responses=error_responses(400, 404, 422))
async def replace_agent(
    name: NameParam, body: ReplaceAgentRequest, services: ServicesDep, tenant: TenantDep
) -> AgentResponse:
    """Replaces every setting of the preset; what the body leaves out is unset, not kept."""
    if body.name is not None and body.name != name:
        raise ApiError(
            400,
            "invalid_request",
            f"name: {body.name!r} differs from the path's {name!r}; a preset cannot be renamed",
            {"field": "name"},
        )
    return AgentResponse.of(await services.agents.replace(tenant, name, body.settings()))


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404, 422),
)
async def delete_agent(name: NameParam, services: ServicesDep, tenant: TenantDep) -> Response:
    """Turns already running keep the settings they started with."""
    await services.agents.delete(tenant, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
