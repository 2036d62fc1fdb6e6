"""Contracts of health, providers and global metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class HealthResponse(BaseModel):
    status: Literal["healthy", "degraded"]
    timestamp: datetime
    version: str
    providers_status: dict[str, bool] = Field(
        description="Configured and not failing fast (circuit closed), per provider."
    )


class ProbeResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(default_factory=dict)


class ProviderInfo(BaseModel):
    name: str
    models: list[str]
    default_model: str
    is_configured: bool
    is_healthy: bool
    capabilities: list[str]


class ProvidersResponse(BaseModel):
    providers: list[ProviderInfo]


class SystemMetrics(BaseModel):
    uptime: float = Field(description="Seconds since this process started.")
    requests_total: int
    errors_rate: float = Field(description="Share of this process's responses with status >= 500.")


class ProviderMetrics(BaseModel):
    requests: int
    avg_latency: float
    success_rate: float
    tokens: int
    cost: float


class SessionCounts(BaseModel):
    active: int
    total_created: int
    avg_duration: float = Field(
        description="Mean seconds from a session's creation to its last turn."
    )


class GlobalMetricsResponse(BaseModel):
    system: SystemMetrics
    providers: dict[str, ProviderMetrics]
    sessions: SessionCounts
