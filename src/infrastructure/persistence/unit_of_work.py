"""The unit of work of ``src.domain.ports``: one ``AsyncSession``, one transaction.

Every repository of a unit of work shares its ``SqlWork``, so a turn's writes (session
update, both messages, call records, summary, idempotency key) reach the database together in
one transaction at ``commit``. Leaving the block without committing rolls everything back.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from src.domain.ports import (
    CallRepository,
    IdempotencyRepository,
    MessageRepository,
    SessionRepository,
    SummaryRepository,
)
from src.infrastructure.persistence.repositories import (
    SqlCallRepository,
    SqlIdempotencyRepository,
    SqlMessageRepository,
    SqlSessionRepository,
    SqlSummaryRepository,
    SqlWork,
)


class SqlUnitOfWork:
    sessions: SessionRepository
    messages: MessageRepository
    summaries: SummaryRepository
    calls: CallRepository
    idempotency: IdempotencyRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> SqlUnitOfWork:
        self._session = self._session_factory()
        self._work = SqlWork(self._session)
        self.sessions = SqlSessionRepository(self._work)
        self.messages = SqlMessageRepository(self._work)
        self.summaries = SqlSummaryRepository(self._work)
        self.calls = SqlCallRepository(self._work)
        self.idempotency = SqlIdempotencyRepository(self._work)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()  # rolls back whatever was not committed

    async def commit(self) -> None:
        """Raises ``IdempotencyConflict`` if an idempotency key was stored meanwhile.

        A failed commit rolls back at once, releasing the database's locks while the caller
        may still be inside the block (the session manager replays the stored reply there).
        """
        try:
            await self._work.flush()
            await self._session.commit()
        except Exception:
            await self._session.rollback()
            raise


class SqlUnitOfWorkFactory:
    """Makes a new unit of work per use; its sessions keep loaded values after commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._session_factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._session_factory)
