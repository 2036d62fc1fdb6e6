"""PostgreSQL through raw ``asyncpg``: prepared statements and one round trip per commit.

Every statement is compiled once from Core (``compiled``) and prepared once per connection
(asyncpg's statement cache keeps it by its text). A unit of work's writes, whatever their
number, go as one statement: each write a data-modifying ``WITH`` part of it, which
PostgreSQL runs atomically in its own implicit transaction. So a turn's commit is a single
round trip (session row, both messages, call records, summary, idempotency key, the end of
the session's lease), and a reused idempotency key fails the whole statement, storing nothing
of it. Foreign keys are checked at the end of the statement, so a turn may create its session
and messages together.

Reads outside a transaction take a pooled connection for one statement each. Several
processes and replicas share the database safely: nothing is cached between statements.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from src.domain.errors import StorageUnavailable
from src.infrastructure.persistence.compiled import (
    Processor,
    Statement,
    StatementCompiler,
    empty_json_first,
)
from src.infrastructure.persistence.locks import (
    END_LEASE,
    LEASE_PROOF_BINDS,
    Lease,
    ended_by_commit,
    held_leases,
    lease_lost,
    lease_proof,
    prove_leases_with,
)
from src.infrastructure.persistence.tables import IDEMPOTENCY_KEYS
from src.infrastructure.persistence.writes import (
    Insert,
    Write,
    idempotency_conflict,
    insert_binds,
    insert_statement,
    update_binds,
    update_statement,
)

PING_TIMEOUT_S = 2.0


async def _decode_json(connection: asyncpg.Connection) -> None:
    """JSON columns come back decoded, as SQLAlchemy's asyncpg dialect sets them up (empty
    lists without the parser, see ``empty_json_first``); values go in already serialized by
    the dialect's bind processor."""
    await connection.set_type_codec(
        "json",
        encoder=str,
        decoder=empty_json_first(json.loads),
        schema="pg_catalog",
        format="text",
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset between uses: asyncpg itself rolls back a transaction left open, and
    these connections take no advisory lock, LISTEN, cursor or session setting. Its default
    reset would cost one more round trip each time a connection goes back to the pool."""


def _rowcount(status: str) -> int:
    """The row count of a command tag such as ``DELETE 1``."""
    return int(status.rsplit(" ", 1)[-1])


CONNECT_TIMEOUT_S = 5.0


class PostgresDatabase:
    """The ``Database`` of ``unit_of_work`` on one PostgreSQL database; ``open`` before use."""

    #: What the driver raises when the server or the connection fails.
    FAILURES: tuple[type[Exception], ...] = (
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    )

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        pool_timeout_s: float = 10.0,
        trace: Callable[[str], None] | None = None,
        connect_args: Mapping[str, Any] | None = None,
    ) -> None:
        """``dsn`` is a libpq URL (``postgresql://...``), ``connect_args`` more arguments of
        ``asyncpg.connect``; ``trace`` sees every statement sent."""
        self.compiler = StatementCompiler(PGDialect_asyncpg())  # type: ignore[no-untyped-call]
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool_timeout_s = pool_timeout_s
        self._trace = trace
        self._connect_args: dict[str, Any] = dict(connect_args or {})
        self._pool: asyncpg.Pool | None = None
        self._combined: dict[Hashable, _Combined] = {}

    async def _setup(self, connection: asyncpg.Connection) -> None:
        await _decode_json(connection)
        trace = self._trace
        if trace is not None:
            connection.add_query_logger(lambda record: trace(record.query))

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            # No connection at start: a database that is down makes the service not ready
            # (see ``ping``) rather than unable to start.
            min_size=0,
            max_size=self._pool_size,
            init=self._setup,
            reset=_keep_session,
            # Under the idle limits of common proxies and load balancers.
            max_inactive_connection_lifetime=300,
            **self._connect_args,
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL database is not open")
        return self._pool

    async def _checkout(self) -> PoolConnectionProxy[Any]:
        """A pooled connection within ``pool_timeout_s``; a pool that stays exhausted is
        ``StorageUnavailable`` (503 with Retry-After), never a wait without end."""
        pool = self._connections()
        if pool.get_idle_size():
            # Handed over at once, so no time-out is needed, nor the task that asyncpg's
            # ``wait_for`` would create for one on every statement.
            idle: PoolConnectionProxy[Any] = await pool.acquire()
            return idle
        # Waiting for a busy pool is bounded by the setting; opening a new connection, by the
        # time a connection takes.
        opening = pool.get_size() < pool.get_max_size()
        timeout = max(self._pool_timeout_s, CONNECT_TIMEOUT_S) if opening else self._pool_timeout_s
        try:
            connection: PoolConnectionProxy[Any] = await pool.acquire(timeout=timeout)
        except TimeoutError as error:
            raise StorageUnavailable("no free connection in this process's pool") from error
        return connection

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy[Any]]:
        connection = await self._checkout()
        try:
            yield connection
        finally:
            await self._connections().release(connection)

    async def ping(self) -> bool:
        """Whether ``SELECT 1`` answers in time, for the readiness probe (a connection
        option the driver refuses, too, makes the service not ready)."""
        try:
            await self._connections().fetchval("SELECT 1", timeout=PING_TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, RuntimeError):
            return False
        return True

    async def fetch(self, statement: Statement, values: Mapping[str, Any]) -> list[Any]:
        compiled = self.compiler.of(statement)
        async with self._connection() as connection:
            rows: list[Any] = await connection.fetch(compiled.sql, *compiled.args(values))
        return rows

    async def scalar(self, statement: Statement, values: Mapping[str, Any]) -> Any:
        """One statement on a pooled connection, in its own implicit transaction: the first
        column of its first row, or None. What the session leases run (``locks``)."""
        compiled = self.compiler.of(statement)
        async with self._connection() as connection:
            return await connection.fetchval(compiled.sql, *compiled.args(values))

    async def commit(self, writes: Sequence[Write]) -> None:
        """One statement, one round trip, which also proves and ends the session leases this
        task holds (fencing, see ``locks``): each lease's end is a part of the statement, and
        the statement fails as a whole, storing nothing, unless every one deleted its row
        (``_combined_statement``)."""
        leases = held_leases()
        async with self._connection() as connection:
            try:
                await self._write(connection, writes, leases)
            except asyncpg.DivisionByZeroError as error:
                if not leases:
                    raise
                raise lease_lost(leases[0]) from error
        ended_by_commit(leases)

    async def prove_leases(
        self, connection: PoolConnectionProxy[Any], leases: Sequence[Lease]
    ) -> None:
        end = self.compiler.of(END_LEASE)
        await prove_leases_with(
            leases, lambda lease: connection.fetchval(end.sql, *end.args(lease.params))
        )

    async def begin(self) -> PostgresTransaction:
        pool = self._connections()
        connection = await self._checkout()
        try:
            transaction = connection.transaction()
            await transaction.start()
        except BaseException:
            await pool.release(connection)
            raise
        return PostgresTransaction(self, pool, connection, transaction)

    async def _write(
        self,
        target: asyncpg.Pool | PoolConnectionProxy[Any],
        writes: Sequence[Write],
        leases: Sequence[Lease] = (),
    ) -> None:
        """All of ``writes`` as one statement: one round trip, atomic; proving ``leases``."""
        shape = tuple((w.shape, len(w.rows) if isinstance(w, Insert) else 1) for w in writes)
        combined = self._combined.get((shape, len(leases)))
        if combined is None:
            combined = _Combined.of(self.compiler, writes, len(leases))
            self._combined[shape, len(leases)] = combined
        try:
            await target.execute(combined.sql, *combined.args(writes, leases))
        except asyncpg.UniqueViolationError as error:
            if error.table_name == IDEMPOTENCY_KEYS.name:
                raise idempotency_conflict(writes) from error
            raise


@dataclass(frozen=True, slots=True)
class _Combined:
    """The one statement for writes of one shape and a number of leases, and where each of
    its positional parameters is found among their values.

    Built once per shape. At each commit the values are gathered in a fixed order: each
    lease's session and token, then each write's (an insert's rows, column by column; an
    update's values, then its key), and put in the statement's order by index. So no bind
    name is formatted or looked up per commit: formatting them took about 3 % of a
    PostgreSQL turn's CPU (``docs/benchmarks.md``, round ten).
    """

    sql: str
    # Per write, the columns its values are gathered by: an insert's, or an update's values
    # and key.
    columns: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    order: tuple[int, ...]  # per parameter, the index of its value among those gathered
    processed: tuple[tuple[int, Processor], ...]  # the parameters the dialect converts

    @classmethod
    def of(cls, compiler: StatementCompiler, writes: Sequence[Write], leases: int) -> _Combined:
        """Write ``i`` binds its values under the prefix ``w{i}_`` (see ``writes``), lease
        ``i`` under ``l{i}_``."""
        names = [f"l{index}_{bind}" for index in range(leases) for bind in LEASE_PROOF_BINDS]
        columns: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        for index, write in enumerate(writes):
            prefix = f"w{index}_"
            if isinstance(write, Insert):
                row = tuple(write.rows[0])
                columns.append((row, ()))
                for binds in insert_binds(row, len(write.rows), prefix):
                    names += binds
            else:
                values, key = tuple(write.values), tuple(write.key)
                columns.append((values, key))
                value_binds, key_binds = update_binds(key, values, prefix)
                names += value_binds + key_binds
        compiled = compiler.compile(_combined_statement(writes, leases))
        position = {name: index for index, name in enumerate(names)}
        # Every parameter is a value of the writes or the leases: these statements have no
        # literal of their own.
        order = tuple(position[name] for name, _, _ in compiled.params)
        processed = tuple(
            (index, process)
            for index, (_, _, process) in enumerate(compiled.params)
            if process is not None
        )
        return cls(compiled.sql, tuple(columns), order, processed)

    def args(self, writes: Sequence[Write], leases: Sequence[Lease]) -> list[Any]:
        """The statement's positional arguments for ``writes`` of its shape and ``leases``."""
        gathered: list[Any] = []
        for lease in leases:
            gathered += lease.proof_values
        for write, (first, second) in zip(writes, self.columns, strict=True):
            if isinstance(write, Insert):
                for row in write.rows:
                    gathered += map(row.__getitem__, first)
            else:
                gathered += map(write.values.__getitem__, first)
                gathered += map(write.key.__getitem__, second)
        args = list(map(gathered.__getitem__, self.order))
        for index, process in self.processed:
            value = args[index]
            if value is not None:
                args[index] = process(value)
        return args


def _combined_statement(writes: Sequence[Write], leases: int = 0) -> Statement:
    """The writes as parts of one statement. With ``leases``, each lease's proof (its end) is
    a part too, and the last write returns ``1 / (every proof deleted its row)``: a lost
    lease is a division by zero, which PostgreSQL raises before anything of the statement is kept.
    (Data-modifying parts always run to completion and see one snapshot, so the proofs run
    whatever the writes, and their rows stay locked until the statement commits.)"""
    statements: list[sa.Insert | sa.Update] = []
    for index, write in enumerate(writes):
        prefix = f"w{index}_"
        if isinstance(write, Insert):
            columns = tuple(write.rows[0])
            statements.append(insert_statement(write.table, columns, len(write.rows), prefix))
        else:
            key, columns = tuple(write.key), tuple(write.values)
            statements.append(update_statement(write.table, key, columns, prefix))
    *first, last = statements
    proofs = [
        sa.text(lease_proof(index)).columns(sa.column("proved")).cte(f"lease{index}")
        for index in range(leases)
    ]
    if proofs:
        # Only integers are formatted into the SQL here.
        counts = (f"(SELECT count(*) FROM lease{index})" for index in range(leases))  # noqa: S608
        proved = " + ".join(counts)
        last = last.returning(sa.literal_column(f"1 / (({proved}) = {leases})::int"))
    return last.add_cte(*proofs, *(s.cte(f"w{i}") for i, s in enumerate(first)))


class PostgresTransaction:
    """The ``Transaction`` of ``unit_of_work``: one pooled connection inside a transaction."""

    def __init__(
        self,
        database: PostgresDatabase,
        pool: asyncpg.Pool,
        connection: PoolConnectionProxy[Any],
        transaction: Any,
    ) -> None:
        self._database = database
        self._pool = pool
        self._connection: PoolConnectionProxy[Any] | None = connection
        self._transaction = transaction

    def _open(self) -> PoolConnectionProxy[Any]:
        if self._connection is None:
            raise RuntimeError("the transaction has ended")
        return self._connection

    async def write(self, writes: Sequence[Write]) -> None:
        if writes:
            await self._database._write(self._open(), writes)

    async def fetch(self, statement: Statement, values: Mapping[str, Any]) -> list[Any]:
        compiled = self._database.compiler.of(statement)
        rows: list[Any] = await self._open().fetch(compiled.sql, *compiled.args(values))
        return rows

    async def execute(self, statement: Statement, values: Mapping[str, Any]) -> int:
        compiled = self._database.compiler.of(statement)
        return _rowcount(await self._open().execute(compiled.sql, *compiled.args(values)))

    async def commit(self) -> None:
        leases = held_leases()
        await self._database.prove_leases(self._open(), leases)
        await self._end(self._transaction.commit)
        ended_by_commit(leases)

    async def rollback(self) -> None:
        """A no-op once the transaction has ended."""
        if self._connection is not None:
            await self._end(self._transaction.rollback)

    async def _end(self, finish: Callable[[], Any]) -> None:
        connection = self._open()
        self._connection = None
        try:
            await finish()
        finally:
            await self._pool.release(connection)
