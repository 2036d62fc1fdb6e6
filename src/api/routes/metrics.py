"""``/api/metrics``: the database-wide totals (from rollups kept with each turn's write);
``/metrics``: this process's live counters for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from src.api.auth import BEARER_SECURITY, TenantFilter, metrics_reader
from src.api.dependencies import ServicesDep
from src.api.presenters import global_metrics_out
from src.api.routes import error_responses
from src.infrastructure.metrics import PROMETHEUS_CONTENT_TYPE, render_prometheus
from src.models.service import GlobalMetricsResponse

router = APIRouter(tags=["metrics"])
prometheus_router = APIRouter(tags=["metrics"], dependencies=[Depends(metrics_reader)])


@router.get("/metrics", response_model=GlobalMetricsResponse, responses=error_responses(403, 422))
async def global_metrics(services: ServicesDep, tenant: TenantFilter) -> GlobalMetricsResponse:
    """This process's requests; every replica's provider calls and sessions, of the caller's
    tenant (the admin's: every tenant's, or `?tenant=`'s)."""
    usage = await services.manager.global_usage(tenant)
    return global_metrics_out(services.metrics, usage)


@prometheus_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}}},
    openapi_extra=BEARER_SECURITY,
)
async def prometheus_metrics(services: ServicesDep) -> Response:
    """This process's counters and histograms in the Prometheus text format (no query); the
    admin key's, unless `METRICS_PUBLIC=true` or the service runs in open mode."""
    return Response(render_prometheus(services.metrics), media_type=PROMETHEUS_CONTENT_TYPE)
