"""SQLite through the stdlib ``sqlite3``: one writer thread with group commit, reads inline.

SQLite has one writer per database file. Every unit of work's writes go to one thread that
owns the only writing connection: it takes whatever commits are queued, runs each inside a
savepoint of one transaction (so one failing unit of work, a reused idempotency key, say,
leaves the others of its batch intact), commits once, and only then resolves each caller's
future. A turn is therefore on disk (WAL, ``synchronous=NORMAL``) before its answer is sent,
and under load many turns share one COMMIT. Writers never wait in SQLite's busy handler,
which is where the earlier design failed with "database is locked" at high concurrency.

Reads run on their own connection in WAL mode, straight on the event loop thread: the
turn's reads are index lookups of tens of microseconds, less than the thread round trip
that would hand them to a worker (~50 µs on this machine kind). WAL readers never wait for
the writer. A unit of work that must see its own uncommitted writes holds the writer thread
for a transaction of its own (``begin``) until it commits or rolls back; other writers queue
meanwhile, as they would for SQLite's write lock.

The WAL is copied into the database file by a thread of its own (``_Checkpointer``), never
inside a turn's COMMIT: SQLite's automatic checkpoint runs in the COMMIT that takes the WAL
past 1,000 pages, which under steady load made about every fiftieth turn wait a few
milliseconds for it (three times the median turn, the whole of the 99th percentile at one
connection). The writer's connection has it off (``wal_autocheckpoint=0``); the checkpointer
runs a PASSIVE checkpoint, which waits for no reader and no writer, at most every
``CHECKPOINT_INTERVAL_S`` while commits arrive, so the WAL stays bounded by what that interval
writes.

One process only: SQLite is the single-process deployment (see the README).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from src.infrastructure.persistence.compiled import Statement, StatementCompiler
from src.infrastructure.persistence.tables import IDEMPOTENCY_KEYS
from src.infrastructure.persistence.writes import (
    Insert,
    Write,
    idempotency_conflict,
    insert_statement,
    update_statement,
    update_values,
)

# Commits in one transaction at most: bounds how long the first of a batch waits for its COMMIT.
MAX_BATCH = 256
# The least time between two checkpoints of the WAL while commits arrive.
CHECKPOINT_INTERVAL_S = 0.25
_UNIQUE = {"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"}


@dataclass(frozen=True, slots=True)
class _Step:
    """One statement of a unit of work, ready for the driver: SQL and one args row per row."""

    sql: str
    rows: list[list[Any]]
    table: str


@dataclass(slots=True)
class _Commit:
    """A unit of work's writes for the next group commit."""

    steps: list[_Step]
    writes: Sequence[Write]
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Exclusive:
    """A transaction of one unit of work: the writer serves its requests until it ends."""

    started: asyncio.Future[None]
    requests: queue.SimpleQueue[_Request] = field(default_factory=queue.SimpleQueue)


@dataclass(slots=True)
class _Request:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any] | None
    ends: bool = False


_STOP = object()

log = logging.getLogger("orchestrator.persistence")


def _resolve(future: asyncio.Future[Any] | None, outcome: Any) -> None:
    if future is None or future.done():
        return  # nobody waits (a rollback on the way out) or the caller was cancelled
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle(future: asyncio.Future[Any] | None, outcome: Any) -> None:
    """Resolves ``future`` from the writer thread, on its own event loop."""
    if future is not None:
        future.get_loop().call_soon_threadsafe(_resolve, future, outcome)


class SqliteDatabase:
    """The ``Database`` of ``unit_of_work`` on one SQLite file; ``open`` before use."""

    def __init__(
        self,
        path: str,
        *,
        busy_timeout_ms: int = 5000,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        """``trace`` sees every statement the writer runs (for diagnostics and tests)."""
        self.compiler = StatementCompiler(SQLiteDialect_pysqlite(paramstyle="qmark"))
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._trace = trace
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reader: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None
        self._checkpointer: _Checkpointer | None = None

    def _connect(self, *pragmas: str) -> sqlite3.Connection:
        # Autocommit mode: transactions are begun explicitly, only by the writer.
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}",
            *pragmas,
        ):
            connection.execute(pragma)
        return connection

    async def open(self) -> None:
        self._reader = self._connect()
        writer = self._connect("PRAGMA wal_autocheckpoint=0")  # the checkpointer's work
        if self._trace is not None:
            writer.set_trace_callback(self._trace)
        self._checkpointer = _Checkpointer(self._connect())
        self._writer = threading.Thread(
            target=self._write_loop,
            args=(writer, self._checkpointer.committed),
            name="sqlite-writer",
            daemon=True,
        )
        self._writer.start()

    async def aclose(self) -> None:
        """Stops the writer once every queued write is done, then the checkpointer, and
        closes every connection (the last one to close checkpoints what is left)."""
        if self._writer is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def ping(self) -> bool:
        """Whether the file answers a read, for the readiness probe."""
        try:
            self._connection().execute("SELECT 1").fetchall()
        except (sqlite3.Error, RuntimeError):
            return False
        return True

    def _connection(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("the SQLite database is not open")
        return self._reader

    async def fetch(self, statement: Statement, values: Mapping[str, Any]) -> list[Any]:
        compiled = self.compiler.of(statement)
        return self._connection().execute(compiled.sql, compiled.args(values)).fetchall()

    def _submit(self, job: _Commit | _Exclusive) -> None:
        if self._writer is None:
            raise RuntimeError("the SQLite database is not open")
        self._queue.put(job)

    async def commit(self, writes: Sequence[Write]) -> None:
        future = asyncio.get_running_loop().create_future()
        self._submit(_Commit(self._steps(writes), writes, future))
        await future

    async def begin(self) -> SqliteTransaction:
        exclusive = _Exclusive(asyncio.get_running_loop().create_future())
        self._submit(exclusive)
        transaction = SqliteTransaction(self, exclusive)
        try:
            await exclusive.started
        except BaseException:
            await transaction.rollback()
            raise
        return transaction

    def _steps(self, writes: Sequence[Write]) -> list[_Step]:
        """The statements of ``writes``, with their values processed here, on the caller's
        thread (a value the dialect refuses fails the caller, not the writer's batch)."""
        steps = []
        for write in writes:
            compiled = self.compiler.get(write.shape, partial(_statement, write))
            if isinstance(write, Insert):
                rows = [compiled.args(row) for row in write.rows]
            else:
                rows = [compiled.args(update_values(write))]
            steps.append(_Step(compiled.sql, rows, write.table.name))
        return steps

    # -- the writer thread ------------------------------------------------------------------

    def _write_loop(self, connection: sqlite3.Connection, committed: Callable[[], None]) -> None:
        """Runs the queued jobs; ``committed`` is told after each transaction."""
        held: Any = None
        try:
            while True:
                job = held if held is not None else self._queue.get()
                held = None
                if job is _STOP:
                    return
                if isinstance(job, _Exclusive):
                    _serve(connection, job)
                    committed()
                    continue
                batch = [job]
                while len(batch) < MAX_BATCH:
                    try:
                        following = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if not isinstance(following, _Commit):
                        held = following
                        break
                    batch.append(following)
                _group_commit(connection, batch)
                committed()
        finally:
            connection.close()


class _Checkpointer:
    """A thread that checkpoints the WAL on a connection of its own, at most every
    ``CHECKPOINT_INTERVAL_S`` and only after commits (see the module's docstring)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """Called by the writer after each transaction: there is WAL to copy."""
        self._pending.set()

    def stop(self) -> None:
        """Ends the thread at once, even in the middle of its pause."""
        self._stopping.set()
        self._pending.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while self._pending.wait() and not self._stopping.is_set():
                self._pending.clear()
                try:
                    self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:  # the next commit's checkpoint tries again
                    log.warning("WAL checkpoint failed: %s", error.sqlite_errorname)
                self._stopping.wait(CHECKPOINT_INTERVAL_S)  # the pause between checkpoints
        finally:
            self._connection.close()


def _statement(write: Write) -> Statement:
    """The one-row statement of ``write`` (``executemany`` runs it for each row)."""
    if isinstance(write, Insert):
        return insert_statement(write.table, tuple(write.rows[0]))
    return update_statement(write.table, tuple(write.key), tuple(write.values))


def _run_steps(connection: sqlite3.Connection, steps: list[_Step], writes: Sequence[Write]) -> None:
    for step in steps:
        try:
            if len(step.rows) == 1:
                connection.execute(step.sql, step.rows[0])
            else:
                connection.executemany(step.sql, step.rows)
        except sqlite3.IntegrityError as error:
            if step.table == IDEMPOTENCY_KEYS.name and error.sqlite_errorname in _UNIQUE:
                raise idempotency_conflict(writes) from error
            raise


def _group_commit(connection: sqlite3.Connection, batch: list[_Commit]) -> None:
    """One transaction for the batch, one savepoint per unit of work, one COMMIT."""
    outcomes: list[BaseException | None] = []
    try:
        connection.execute("BEGIN IMMEDIATE")
        for job in batch:
            if len(batch) == 1:
                _run_steps(connection, job.steps, job.writes)
                outcomes.append(None)
                continue
            connection.execute("SAVEPOINT unit")
            try:
                _run_steps(connection, job.steps, job.writes)
            except Exception as error:  # noqa: BLE001 - handed to the caller; the writer goes on
                connection.execute("ROLLBACK TO unit")
                outcomes.append(error)
            else:
                outcomes.append(None)
            connection.execute("RELEASE unit")
        connection.execute("COMMIT")
    except Exception as error:  # noqa: BLE001 - handed to the caller; the writer goes on
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        outcomes = [error] * len(batch)
    for job, outcome in zip(batch, outcomes, strict=True):
        _settle(job.future, outcome)


def _serve(connection: sqlite3.Connection, exclusive: _Exclusive) -> None:
    """Holds one transaction for one unit of work, running its requests until it ends."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as error:
        _settle(exclusive.started, error)
        return
    _settle(exclusive.started, None)
    while True:
        request = exclusive.requests.get()
        try:
            outcome = request.run(connection)
        except Exception as error:  # noqa: BLE001 - handed to the caller; the writer goes on
            outcome = error
        if request.ends and connection.in_transaction:
            connection.execute("ROLLBACK")  # the COMMIT failed: end the transaction anyway
        _settle(request.future, outcome)
        if request.ends:
            return


class SqliteTransaction:
    """The ``Transaction`` of ``unit_of_work``: requests to the writer thread, in order."""

    def __init__(self, database: SqliteDatabase, exclusive: _Exclusive) -> None:
        self._database = database
        self._requests = exclusive.requests
        self._ended = False

    async def _ask(self, run: Callable[[sqlite3.Connection], Any], *, ends: bool = False) -> Any:
        if self._ended:
            raise RuntimeError("the transaction has ended")
        self._ended = ends
        future = asyncio.get_running_loop().create_future()
        self._requests.put(_Request(run, future, ends))
        return await future

    async def write(self, writes: Sequence[Write]) -> None:
        if writes:
            steps = self._database._steps(writes)
            await self._ask(lambda connection: _run_steps(connection, steps, writes))

    async def fetch(self, statement: Statement, values: Mapping[str, Any]) -> list[Any]:
        compiled = self._database.compiler.of(statement)
        args = compiled.args(values)

        def fetch(connection: sqlite3.Connection) -> list[Any]:
            return connection.execute(compiled.sql, args).fetchall()

        rows: list[Any] = await self._ask(fetch)
        return rows

    async def execute(self, statement: Statement, values: Mapping[str, Any]) -> int:
        compiled = self._database.compiler.of(statement)
        args = compiled.args(values)

        def execute(connection: sqlite3.Connection) -> int:
            return connection.execute(compiled.sql, args).rowcount

        count: int = await self._ask(execute)
        return count

    async def commit(self) -> None:
        await self._ask(lambda connection: connection.execute("COMMIT"), ends=True)

    async def rollback(self) -> None:
        """Ends the transaction; a no-op once it has ended. The writer gets the request even
        if the caller is cancelled while it waits."""
        if not self._ended:
            self._ended = True
            self._requests.put(_Request(lambda c: c.execute("ROLLBACK"), None, ends=True))
