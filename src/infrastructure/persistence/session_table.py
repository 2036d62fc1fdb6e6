"""The sessions table of the dashboard in SQL: sessions with the sums of their calls,
searched, filtered, ordered and paged in the database.

Ordered by a session column (last activity, creation), the page of sessions is chosen first
from ``sessions`` and only its calls are summed. Ordered by a total (cost, tokens), every
session's calls are summed (from the covering index ``ix_provider_calls_session_totals``)
and joined before ordering. Either way the order ends with the id, so pages never overlap.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from src.domain.analytics import SessionQuery, SessionTotals
from src.domain.entities import Session
from src.infrastructure.persistence.repositories import from_picodollars
from src.infrastructure.persistence.tables import PROVIDER_CALLS, SESSIONS

CALLS = PROVIDER_CALLS.c
_SESSION_FIELDS = tuple(SESSIONS.c.keys())


def matching(query: SessionQuery) -> list[sa.ColumnElement[bool]]:
    """The query's conditions on ``sessions``: owner, search, provider used, last activity."""
    columns = SESSIONS.c
    conditions: list[sa.ColumnElement[bool]] = []
    if query.owner is not None:
        conditions.append(columns.owner == query.owner)
    if query.search:
        conditions.append(
            sa.or_(
                columns.id.icontains(query.search, autoescape=True),
                columns.user_id.icontains(query.search, autoescape=True),
            )
        )
    if query.provider:
        conditions.append(
            sa.exists().where(CALLS.session_id == columns.id, CALLS.provider == query.provider)
        )
    if query.period.since is not None:
        conditions.append(columns.updated_at >= query.period.since)
    if query.period.until is not None:
        conditions.append(columns.updated_at < query.period.until)
    return conditions


def count_of(query: SessionQuery) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(SESSIONS).where(*matching(query))


def _totals(*conditions: sa.ColumnElement[bool]) -> sa.Subquery:
    return (
        sa.select(
            CALLS.session_id.label("session_id"),
            sa.func.sum(CALLS.input_tokens + CALLS.output_tokens).label("tokens"),
            sa.func.sum(CALLS.cost).label("cost"),
            sa.func.count().label("calls"),
        )
        .where(*conditions)
        .group_by(CALLS.session_id)
        .subquery("totals")
    )


def _order(
    query: SessionQuery, sessions: sa.FromClause, totals: sa.Subquery | None = None
) -> list[sa.ColumnElement[Any]]:
    """Ordered by a total, ``totals`` must be joined; a session without calls counts 0."""
    column: sa.ColumnElement[Any]
    if query.sort == "last_activity":
        column = sessions.c.updated_at
    elif query.sort == "created_at":
        column = sessions.c.created_at
    else:
        assert totals is not None, "ordering by a total needs the totals joined"
        column = sa.func.coalesce(totals.c[query.sort], 0)
    if query.descending:
        return [column.desc(), sessions.c.id.desc()]
    return [column.asc(), sessions.c.id.asc()]


def _page_statement(query: SessionQuery, limit: int, offset: int) -> sa.Select[Any]:
    if query.sort in ("cost", "tokens"):
        totals = _totals(CALLS.session_id.is_not(None))
        return (
            sa.select(SESSIONS, totals.c.tokens, totals.c.cost, totals.c.calls)
            .select_from(SESSIONS.outerjoin(totals, totals.c.session_id == SESSIONS.c.id))
            .where(*matching(query))
            .order_by(*_order(query, SESSIONS, totals))
            .limit(limit)
            .offset(offset)
        )
    page = (
        sa.select(SESSIONS)
        .where(*matching(query))
        .order_by(*_order(query, SESSIONS))
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    totals = _totals(CALLS.session_id.in_(sa.select(page.c.id)))
    return (
        sa.select(page, totals.c.tokens, totals.c.cost, totals.c.calls)
        .select_from(page.outerjoin(totals, totals.c.session_id == page.c.id))
        .order_by(*_order(query, page))
    )


async def page_of(
    connection: AsyncConnection, query: SessionQuery, limit: int, offset: int
) -> list[SessionTotals]:
    """One page of the matching sessions with their totals and the providers they used."""
    rows = (await connection.execute(_page_statement(query, limit, offset))).all()
    providers = await _providers_of(connection, [row.id for row in rows])
    return [
        SessionTotals(
            session=Session(**{name: row._mapping[name] for name in _SESSION_FIELDS}),
            tokens=int(row.tokens or 0),
            cost=from_picodollars(row.cost) or Decimal(0),
            calls=int(row.calls or 0),
            providers=providers.get(row.id, ()),
        )
        for row in rows
    ]


async def _providers_of(connection: AsyncConnection, ids: list[str]) -> dict[str, tuple[str, ...]]:
    if not ids:
        return {}
    statement = (
        sa.select(CALLS.session_id, CALLS.provider)
        .where(CALLS.session_id.in_(ids))
        .distinct()
        .order_by(CALLS.session_id, CALLS.provider)
    )
    found: dict[str, list[str]] = {}
    for session_id, provider in await connection.execute(statement):
        found.setdefault(session_id, []).append(provider)
    return {key: tuple(value) for key, value in found.items()}
