"""The unit of work of ``src.domain.ports`` over a raw database driver.

A unit of work queues its writes (session update, both messages, call records, summary,
idempotency key) and hands them to its database at ``commit``, which stores them in one
transaction: on SQLite a group commit of the writer thread, on PostgreSQL one statement
(``sqlite_raw``, ``postgres_raw``). Reads before any write go straight to the database, each
on its own. Only a unit of work that must see its own writes before committing (a read after
a write, or a delete that reports what it deleted) opens a transaction of its own, which then
carries everything up to commit or rollback; no turn does that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from src.domain.ports import (
    AgentRepository,
    ApiKeyRepository,
    CallRepository,
    IdempotencyRepository,
    MessageRepository,
    SessionRepository,
    SummaryRepository,
)
from src.infrastructure.persistence.agents import SqlAgentRepository
from src.infrastructure.persistence.compiled import Statement, StatementCompiler
from src.infrastructure.persistence.keys import SqlApiKeyRepository
from src.infrastructure.persistence.repositories import (
    SqlCallRepository,
    SqlIdempotencyRepository,
    SqlMessageRepository,
    SqlSessionRepository,
    SqlSummaryRepository,
)
from src.infrastructure.persistence.window_cache import WindowCache
from src.infrastructure.persistence.writes import Insert, Write


class Transaction(Protocol):
    """A transaction a unit of work holds on its own, up to ``commit`` or ``rollback``."""

    async def write(self, writes: Sequence[Write]) -> None: ...

    async def fetch(self, statement: Statement, values: Mapping[str, Any]) -> list[Any]: ...

    async def execute(self, statement: Statement, values: Mapping[str, Any]) -> int: ...

    async def commit(self) -> None:
        """Raises ``IdempotencyConflict`` if an idempotency key was stored meanwhile."""
        ...

    async def rollback(self) -> None: ...


class Database(Protocol):
    """A database behind a raw driver, as the unit of work uses it."""

    compiler: StatementCompiler

    async def fetch(self, statement: Statement, values: Mapping[str, Any]) -> list[Any]:
        """The raw rows of one read, outside any transaction of a unit of work."""
        ...

    async def commit(self, writes: Sequence[Write]) -> None:
        """Stores ``writes`` in one transaction; returns once it is committed.

        Raises ``IdempotencyConflict`` (and stores none of them) if an idempotency key among
        them was stored meanwhile.
        """
        ...

    async def begin(self) -> Transaction: ...


class SqlUnitOfWork:
    sessions: SessionRepository
    messages: MessageRepository
    summaries: SummaryRepository
    calls: CallRepository
    idempotency: IdempotencyRepository
    keys: ApiKeyRepository
    agents: AgentRepository

    def __init__(self, database: Database, windows: WindowCache) -> None:
        self._database = database
        self._pending: list[Write] = []
        self._transaction: Transaction | None = None
        self._after_commit: list[Callable[[], None]] = []
        self.sessions = SqlSessionRepository(self, windows)
        self.messages = SqlMessageRepository(self, windows)
        self.summaries = SqlSummaryRepository(self)
        self.calls = SqlCallRepository(self)
        self.idempotency = SqlIdempotencyRepository(self)
        self.keys = SqlApiKeyRepository(self)
        self.agents = SqlAgentRepository(self)

    async def __aenter__(self) -> SqlUnitOfWork:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._pending = []
        self._after_commit = []
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.rollback()

    async def commit(self) -> None:
        """Raises ``IdempotencyConflict`` if an idempotency key was stored meanwhile.

        A failed commit has already rolled back when it raises, releasing the database's
        locks while the caller may still be inside the block (the session manager replays
        the stored reply there).
        """
        pending, self._pending = self._pending, []
        transaction, self._transaction = self._transaction, None
        committed, self._after_commit = self._after_commit, []
        if transaction is None:
            if pending:
                await self._database.commit(pending)
        else:
            try:
                await transaction.write(pending)
                await transaction.commit()
            except BaseException:
                await transaction.rollback()
                raise
        for action in committed:
            action()

    # -- the Work of the repositories -----------------------------------------------------

    def queue(self, write: Write) -> None:
        """Consecutive inserts into one table become one multi-row insert."""
        last = self._pending[-1] if self._pending else None
        if isinstance(write, Insert) and isinstance(last, Insert) and last.table is write.table:
            last.rows.extend(write.rows)
        else:
            self._pending.append(write)

    async def rows(self, statement: Statement, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        compiled = self._database.compiler.of(statement)
        if self._pending or self._transaction is not None:
            raw = await (await self._own_transaction()).fetch(statement, values)
        else:
            raw = await self._database.fetch(statement, values)
        return [compiled.row(r) for r in raw]

    async def execute(self, statement: Statement, values: Mapping[str, Any]) -> int:
        return await (await self._own_transaction()).execute(statement, values)

    @property
    def reads_committed(self) -> bool:
        return not self._pending and self._transaction is None

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after_commit.append(action)

    async def _own_transaction(self) -> Transaction:
        """This unit of work's own transaction, with the writes queued so far sent into it."""
        if self._transaction is None:
            self._transaction = await self._database.begin()
        if self._pending:
            pending, self._pending = self._pending, []
            await self._transaction.write(pending)
        return self._transaction


class SqlUnitOfWorkFactory:
    """Makes a new unit of work per use, all on one database, sharing one cache of windows
    (none without ``windows``)."""

    def __init__(self, database: Database, windows: WindowCache | None = None) -> None:
        self._database = database
        self._windows = windows or WindowCache(budget_bytes=0, keep=0)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._database, self._windows)
