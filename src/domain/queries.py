"""The read side: a session's history and metrics, and the global usage.

Kept apart from the turn's write path: these only read, and every figure is a sum of call
records, so session and global totals reconcile.
"""

from __future__ import annotations

from src.domain.entities import DEFAULT_OWNER
from src.domain.errors import SessionNotFound
from src.domain.metrics import GlobalUsage, SessionMetrics, provider_usage, session_metrics
from src.domain.ports import UnitOfWorkFactory
from src.domain.turns import HistoryPage


class SessionQueries:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def history(
        self, session_id: str, *, owner: str | None = DEFAULT_OWNER, limit: int, offset: int
    ) -> HistoryPage:
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, owner)
            if session is None:
                raise SessionNotFound(session_id)
            messages = await uow.messages.page(session_id, limit, offset)
        total = session.message_count
        return HistoryPage(
            session_id=session_id,
            messages=tuple(messages),
            summary=session.summary,
            total=total,
            has_more=offset + len(messages) < total,
        )

    async def session_metrics(
        self, session_id: str, owner: str | None = DEFAULT_OWNER
    ) -> SessionMetrics:
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, owner)
            if session is None:
                raise SessionNotFound(session_id)
            totals = await uow.calls.totals(session_id)
            summaries = await uow.summaries.all(session_id)
        last_summary_at = summaries[-1].created_at if summaries else None
        return session_metrics(session, totals, last_summary_at)

    async def global_usage(self, tenant: str | None = None) -> GlobalUsage:
        """Every tenant's calls and sessions, or one tenant's."""
        async with self._uow() as uow:
            totals = await uow.calls.totals(None, tenant)
            stats = await uow.sessions.stats(tenant)
        return GlobalUsage(providers=provider_usage(totals), sessions=stats)
