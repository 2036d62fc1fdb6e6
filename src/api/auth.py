"""The one authentication dependency of ``/api`` and ``/v1``, and its plain twin for routes
that receive their credential otherwise (a WebSocket's first frame).

The credential is ``Authorization: Bearer <token>`` (what the openai SDK's ``api_key``
sends). The resolved ``Principal`` is handed to every route explicitly and kept on the
request's state for the ``X-RateLimit-*`` headers (``auth_headers``).

The turn routes take it inside ``TurnContextDep``, with the services and the request id
(``turn_context`` authenticates as ``current_principal`` does): FastAPI solves each
dependency of a route on its own, and solving those three apart, behind a router-level
authentication, cost a turn about 3 % of its instructions (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from src.api.dependencies import Services, get_services
from src.domain.errors import Forbidden, Unauthorized
from src.domain.identity import Principal


async def authenticate(services: Services, token: str | None) -> Principal:
    """The principal of a bearer token; raises ``Unauthorized`` (401) for any other."""
    return await services.authenticator.authenticate(token)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header; raises ``Unauthorized`` if it is malformed."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    return token


# Declares the scheme in the OpenAPI description (the "Authorize" button of /docs); the header
# itself is read by ``bearer_token``, which also refuses malformed ones.
_BEARER = HTTPBearer(auto_error=False, description="An API key (orch_...) or a JWT.")
_Declared = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


async def current_principal(request: Request, _: _Declared = None) -> Principal:
    services = await get_services(request)
    if services.authenticator.open_mode:
        principal = await authenticate(services, None)
    else:
        principal = await authenticate(services, bearer_token(request.headers.get("authorization")))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this route needs the admin key (ADMIN_API_KEY)")
    return principal


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a turn route reads of its request besides the body and headers of its own."""

    services: Services
    principal: Principal
    request_id: str


async def turn_context(request: Request) -> TurnContext:
    """The authenticated caller (as ``current_principal``), the services and the request id.

    It declares no ``HTTPBearer`` sub-dependency (``BEARER_SECURITY`` says the same in the
    OpenAPI description): FastAPI would solve it on every turn for a header read here anyway."""
    principal = await current_principal(request)
    return TurnContext(await get_services(request), principal, request.state.request_id)


#: The turn routes' one dependency; their routers add no authentication of their own.
TurnContextDep = Annotated[TurnContext, Depends(turn_context)]
#: ``openapi_extra`` of the routes whose dependency reads the header itself (those taking
#: ``TurnContextDep``, Prometheus' ``/metrics``): the requirement the other routes get from
#: their ``HTTPBearer`` sub-dependency.
BEARER_SECURITY: dict[str, Any] = {"security": [{_BEARER.scheme_name: []}]}


AdminDep = Annotated[Principal, Depends(admin_principal)]


async def metrics_reader(request: Request) -> None:
    """``/metrics`` for Prometheus: public with ``METRICS_PUBLIC=true`` or in open mode,
    otherwise the admin key's."""
    services = await get_services(request)
    if services.config.metrics_public or services.authenticator.open_mode:
        return
    await admin_principal(await current_principal(request))


async def tenant_filter(
    principal: PrincipalDep,
    tenant: Annotated[
        str | None, Query(description="Admin only: one tenant's data instead of all.")
    ] = None,
) -> str | None:
    """The tenant a listing covers: the caller's own; the admin's choice (``None``: all)."""
    if principal.is_admin:
        return tenant
    if tenant is not None and tenant != principal.tenant:
        raise Forbidden("only the admin key may read another tenant's data")
    return principal.tenant


TenantFilter = Annotated[str | None, Depends(tenant_filter)]
