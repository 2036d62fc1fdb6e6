"""Contracts of the dashboard's reads: figures over a period, time series, the sessions
table and a session's trail (summary folds and calls). Money is USD, latency seconds."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class OverviewResponse(BaseModel):
    since: datetime | None
    until: datetime | None
    calls: int = Field(description="Every provider call, summaries included.")
    turns: int = Field(description="Provider calls made for turns (a fallback is one more).")
    tokens: int
    cost: float
    errors: int = Field(description="Failed turn calls.")
    error_rate: float
    latency_p50: float | None
    latency_p95: float | None


class PointOut(BaseModel):
    t: datetime = Field(description="UTC start of the bucket.")
    calls: int
    turns: int
    tokens: int
    cost: float
    errors: int
    latency_p50: float | None
    latency_p95: float | None


class SeriesOut(BaseModel):
    key: str = Field(examples=["openai", "openai/gpt-4o-mini", "default"])
    points: list[PointOut]


class TimeseriesResponse(BaseModel):
    bucket: str
    series: list[SeriesOut]


class SessionRowOut(BaseModel):
    session_id: str
    user_id: str | None
    status: str
    created_at: datetime
    last_activity: datetime
    message_count: int
    calls: int
    tokens: int
    cost: float
    providers: list[str]


class SessionTableResponse(BaseModel):
    sessions: list[SessionRowOut]
    total: int
    limit: int
    offset: int


class SummaryFoldOut(BaseModel):
    version: int
    from_seq: int
    to_seq: int = Field(description="The summary covers messages from_seq..to_seq.")
    created_at: datetime
    provider: str
    model: str
    content: str


class CallOut(BaseModel):
    t: datetime
    kind: str = Field(examples=["turn", "summary"])
    provider: str
    model: str
    tokens: int
    cost: float | None
    latency: float
    ok: bool


class TrailResponse(BaseModel):
    session_id: str
    summaries: list[SummaryFoldOut]
    calls: list[CallOut]
