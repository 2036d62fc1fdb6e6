"""The unit of work of ``src.domain.ports``: one connection, one transaction.

Every repository of a unit of work shares its ``SqlWork``, so a turn's writes (session
update, both messages, call records, summary, idempotency key) reach the database together in
one transaction at ``commit``. Leaving the block without committing rolls everything back.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from src.domain.ports import (
    CallRepository,
    IdempotencyRepository,
    MessageRepository,
    SessionRepository,
    SummaryRepository,
)
from src.infrastructure.persistence.engine import checkout
from src.infrastructure.persistence.locks import prove_leases
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

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock | None) -> None:
        self._engine = engine
        self._write_lock = write_lock

    async def __aenter__(self) -> SqlUnitOfWork:
        self._connection: AsyncConnection = await checkout(self._engine)
        self._work = SqlWork(self._connection, self._write_lock)
        self.sessions = SqlSessionRepository(self._work)
        self.messages = SqlMessageRepository(self._work)
        self.summaries = SqlSummaryRepository(self._work)
        self.calls = SqlCallRepository(self._work)
        self.idempotency = SqlIdempotencyRepository(self._work)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._connection.close()  # rolls back whatever was not committed
        finally:
            self._work.release()

    async def commit(self) -> None:
        """Raises ``IdempotencyConflict`` if an idempotency key was stored meanwhile, and
        ``SessionBusy`` if a session lease held by this task was lost (see ``locks``).

        A failed commit rolls back at once, releasing the database's locks while the caller
        may still be inside the block (the session manager replays the stored reply there).
        """
        try:
            await self._work.flush()
            await prove_leases(self._connection)
            await self._connection.commit()
        except Exception:
            await self._connection.rollback()
            raise
        finally:
            self._work.release()


class SqlUnitOfWorkFactory:
    """Makes a new unit of work per use.

    On SQLite every unit of work of this factory shares one write lock (see ``repositories``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, self._write_lock)
