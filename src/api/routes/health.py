"""Health for people (``/api/health``) and probes for Kubernetes (``live``, ``ready``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from src.api.dependencies import ServicesDep
from src.models.service import HealthResponse, ProbeResponse

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", response_model=HealthResponse)
async def health(services: ServicesDep) -> HealthResponse:
    """Never calls a provider: status comes from configuration and the circuit breakers.

    `degraded` when no provider is configured or a configured one is failing fast.
    """
    providers = services.providers.describe()
    status = {p.name: p.is_configured and p.is_healthy for p in providers}
    configured = [p for p in providers if p.is_configured]
    healthy = bool(configured) and all(p.is_healthy for p in configured)
    return HealthResponse(
        status="healthy" if healthy else "degraded",
        timestamp=datetime.now(UTC),
        version=services.config.version,
        providers_status=status,
    )


@router.get("/live", response_model=ProbeResponse)
async def live() -> ProbeResponse:
    """200 while the process serves; checks nothing else."""
    return ProbeResponse(status="ok")


@router.get("/ready", response_model=ProbeResponse, responses={503: {"model": ProbeResponse}})
async def ready(services: ServicesDep) -> JSONResponse:
    """503 while the database is unreachable or the process is draining."""
    checks = {
        "database": await services.database_ready(),
        "accepting_turns": not services.lifecycle.draining,
    }
    ok = all(checks.values())
    body = ProbeResponse(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
