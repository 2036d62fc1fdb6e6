from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from src.api.auth import TenantFilter, metrics_reader
from src.api.dependencies import ServicesDep
from src.api.presenters import global_metrics_out
from src.infrastructure.metrics import PROMETHEUS_CONTENT_TYPE, render_prometheus
from src.models.service import GlobalMetricsResponse

router = APIRouter(tags=["metrics"])
prometheus_router = APIRouter(tags=["metrics"], dependencies=[Depends(metrics_reader)])


@router.get("/metrics", response_model=GlobalMetricsResponse)
async def global_metrics(services: ServicesDep, tenant: TenantFilter) -> GlobalMetricsResponse:
    """This process's requests; every replica's provider calls and sessions, of the caller's
    tenant (the admin's: every tenant's, or `?tenant=`'s)."""
    usage = await services.manager.global_usage(tenant)
    return global_metrics_out(services.metrics, usage)


@prometheus_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}}},
)
async def prometheus_metrics(services: ServicesDep) -> Response:
    """The same figures in the Prometheus text format."""
    usage = await services.manager.global_usage()
    return Response(render_prometheus(services.metrics, usage), media_type=PROMETHEUS_CONTENT_TYPE)
