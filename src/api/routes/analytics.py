"""The dashboard's JSON reads (SPEC §9): figures over a period, series over time, the sessions
table with its CSV download, and a session's trail. Every read is scoped to the caller's
tenant and aggregated in the database (``src.domain.analytics``)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from src.api.auth import TenantFilter
from src.api.dependencies import ServicesDep
from src.api.presenters import money
from src.api.routes import error_responses
from src.domain.analytics import (
    Bucket,
    Figures,
    GroupBy,
    Period,
    SessionQuery,
    SessionSort,
    SessionTotals,
)
from src.domain.errors import SessionNotFound
from src.models.analytics import (
    CallOut,
    OverviewResponse,
    PointOut,
    SeriesOut,
    SessionRowOut,
    SessionTableResponse,
    SummaryFoldOut,
    TimeseriesResponse,
    TrailResponse,
)

router = APIRouter(tags=["analytics"])

CSV_COLUMNS = (
    "session_id",
    "user_id",
    "status",
    "created_at",
    "last_activity",
    "message_count",
    "calls",
    "tokens",
    "cost",
    "providers",
)


TenantDep = TenantFilter
Since = Annotated[datetime | None, Query(description="ISO 8601; inclusive. A naive time is UTC.")]
Until = Annotated[datetime | None, Query(description="ISO 8601; exclusive. A naive time is UTC.")]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _period(since: datetime | None, until: datetime | None) -> Period:
    return Period(_utc(since), _utc(until)).check()


class _SessionFilters:
    """The sessions table's query parameters, shared by the JSON page and the CSV."""

    def __init__(
        self,
        tenant: TenantDep,
        since: Since = None,
        until: Until = None,
        q: Annotated[
            str | None, Query(max_length=128, description="Part of a session id or user id.")
        ] = None,
        provider: Annotated[str | None, Query(max_length=64)] = None,
        sort: SessionSort = "last_activity",
        order: Literal["asc", "desc"] = "desc",
    ) -> None:
        self.query = SessionQuery(
            owner=tenant,
            search=q or None,
            provider=provider or None,
            period=_period(since, until),
            sort=sort,
            descending=order == "desc",
        )


SessionFilters = Annotated[_SessionFilters, Depends()]


@router.get(
    "/metrics/overview", response_model=OverviewResponse, responses=error_responses(400, 422)
)
async def overview(
    services: ServicesDep, tenant: TenantDep, since: Since = None, until: Until = None
) -> OverviewResponse:
    """Turns, tokens, cost, error rate and latency percentiles of the calls in the period."""
    period = _period(since, until)
    figures = await services.analytics.overview(tenant, period)
    return OverviewResponse(
        since=period.since,
        until=period.until,
        error_rate=figures.error_rate,
        **_figures(figures),
    )


@router.get(
    "/metrics/timeseries",
    response_model=TimeseriesResponse,
    responses=error_responses(400, 422),
)
async def timeseries(
    services: ServicesDep,
    tenant: TenantDep,
    since: Since = None,
    until: Until = None,
    bucket: Bucket = "hour",
    group_by: GroupBy = "provider",
) -> TimeseriesResponse:
    """The same figures per bucket, one series per provider, model or tenant; only buckets
    holding a call appear. A period may span at most 5000 buckets."""
    period = _period(since, until)
    period.check_buckets(bucket)
    series = await services.analytics.timeseries(tenant, period, bucket, group_by)
    return TimeseriesResponse(
        bucket=bucket,
        series=[
            SeriesOut(
                key=s.key, points=[PointOut(t=p.start, **_figures(p.figures)) for p in s.points]
            )
            for s in series
        ],
    )


@router.get(
    "/metrics/sessions", response_model=SessionTableResponse, responses=error_responses(400, 422)
)
async def session_table(
    services: ServicesDep,
    filters: SessionFilters,
    limit: Annotated[int, Query(ge=1, le=200)] = 25,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SessionTableResponse:
    """Sessions with their totals: search, filter by provider and last activity, sort by
    cost, tokens or last activity, one page at a time."""
    query = replace(filters.query, limit=limit, offset=offset)
    page, total = await services.analytics.sessions(query)
    return SessionTableResponse(
        sessions=[_row(s) for s in page], total=total, limit=limit, offset=offset
    )


@router.get(
    "/metrics/sessions/{session_id}/trail",
    response_model=TrailResponse,
    responses=error_responses(404, 422),
)
async def session_trail(session_id: str, services: ServicesDep, tenant: TenantDep) -> TrailResponse:
    """Where each summary folded the transcript, and every provider call of the session."""
    trail = await services.analytics.trail(tenant, session_id)
    if trail is None:
        raise SessionNotFound(session_id)
    return TrailResponse(
        session_id=session_id,
        summaries=[
            SummaryFoldOut(
                version=s.version,
                from_seq=s.from_seq,
                to_seq=s.to_seq,
                created_at=s.created_at,
                provider=s.provider,
                model=s.model,
                content=s.content,
            )
            for s in trail.summaries
        ],
        calls=[
            CallOut(
                t=c.created_at,
                kind=c.kind,
                provider=c.provider,
                model=c.model,
                tokens=c.tokens,
                cost=money(c.cost),
                latency=c.latency_s,
                ok=c.ok,
            )
            for c in trail.calls
        ],
    )


@router.get(
    "/sessions/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(400, 422)},
)
async def export_sessions(services: ServicesDep, filters: SessionFilters) -> StreamingResponse:
    """Every matching session with its totals, as CSV streamed from the database in pages."""
    rows = services.analytics.export(filters.query)

    async def lines() -> AsyncIterator[str]:
        yield _csv_line(CSV_COLUMNS)
        async for totals in rows:
            row = _row(totals)
            yield _csv_line(
                (
                    row.session_id,
                    row.user_id or "",
                    row.status,
                    row.created_at.isoformat(),
                    row.last_activity.isoformat(),
                    row.message_count,
                    row.calls,
                    row.tokens,
                    row.cost,
                    ";".join(row.providers),
                )
            )

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="sessions.csv"'},
    )


def _csv_line(values: tuple[object, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _figures(figures: Figures) -> dict[str, int | float | None]:
    return {
        "calls": figures.calls,
        "turns": figures.turns,
        "tokens": figures.tokens,
        "cost": float(figures.cost),
        "errors": figures.errors,
        "latency_p50": figures.latency_p50,
        "latency_p95": figures.latency_p95,
    }


def _row(totals: SessionTotals) -> SessionRowOut:
    session = totals.session
    return SessionRowOut(
        session_id=session.id,
        user_id=session.user_id,
        status=session.status,
        created_at=session.created_at,
        last_activity=session.updated_at,
        message_count=session.message_count,
        calls=totals.calls,
        tokens=totals.tokens,
        cost=float(totals.cost),
        providers=list(totals.providers),
    )
