from __future__ import annotations

from fastapi import APIRouter

from src.api.dependencies import ServicesDep
from src.models.service import ProviderInfo, ProvidersResponse

router = APIRouter(tags=["providers"])


@router.get("/providers", response_model=ProvidersResponse)
async def list_providers(services: ServicesDep) -> ProvidersResponse:
    """Every provider the gateway knows, configured or not, with its models."""
    return ProvidersResponse(
        providers=[
            ProviderInfo(
                name=p.name,
                models=list(p.models),
                default_model=p.default_model,
                is_configured=p.is_configured,
                is_healthy=p.is_healthy,
                capabilities=list(p.capabilities),
            )
            for p in services.providers.describe()
        ]
    )
