"""The SQL repositories of ``src.domain.ports``, sharing one transaction per unit of work.

Writes are queued in ``SqlWork`` and sent together, before any read and at commit, so a turn
costs few round trips: consecutive inserts into one table become one ``executemany`` and
``SessionRepository.update`` is one ``UPDATE`` by primary key. Reads are plain Core selects
on the tables of ``tables`` (no ORM identity map or instance loading: profiling showed those
to be most of a turn's cost). Rows and domain dataclasses convert by name, since each column
carries the name of its field; money crosses as Decimal USD, stored as picodollars.

SQLite has one writer per database file. Writers of one process take ``write_lock`` from
their first write until commit or rollback, so they queue in the event loop instead of
spinning in SQLite's busy handler, where a writer that the loop is slow to resume could make
the others give up with "database is locked".
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from src.domain.entities import (
    CallRecord,
    CallTotals,
    Message,
    Session,
    SessionStats,
    SummaryVersion,
)
from src.domain.errors import IdempotencyConflict
from src.infrastructure.persistence.rollups import (
    ADD_TO_ROLLUP,
    TOTALS,
    rollup_params,
    totals_of,
)
from src.infrastructure.persistence.tables import (
    IDEMPOTENCY_KEYS,
    MESSAGES,
    PROVIDER_CALLS,
    SESSIONS,
    SUMMARIES,
)

PICODOLLARS_PER_USD = Decimal(10**12)


def to_picodollars(cost: Decimal | None) -> int | None:
    """USD to whole picodollars (half-even below that); ``None`` (unknown) stays ``None``."""
    if cost is None:
        return None
    return int((cost * PICODOLLARS_PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_picodollars(amount: int | Decimal | None) -> Decimal | None:
    """Picodollars (an ``int``, or PostgreSQL's ``numeric`` for a SUM) to exact Decimal USD."""
    if amount is None:
        return None
    return Decimal(amount) / PICODOLLARS_PER_USD


@dataclasses.dataclass(slots=True)
class _Insert:
    table: sa.Table
    rows: list[dict[str, Any]]


class SqlWork:
    """The transaction of one unit of work and the writes queued on it."""

    def __init__(self, connection: AsyncConnection, write_lock: asyncio.Lock | None) -> None:
        self._connection = connection
        self._write_lock = write_lock
        self._holds_write_lock = False
        self._pending: list[_Insert | tuple[UpdateBase, dict[str, Any]]] = []
        self._totals: list[dict[str, Any]] = []

    async def _before_write(self) -> None:
        if self._write_lock is not None and not self._holds_write_lock:
            await self._write_lock.acquire()
            self._holds_write_lock = True

    def release(self) -> None:
        """Ends this unit of work's claim to write (after commit or rollback)."""
        if self._write_lock is not None and self._holds_write_lock:
            self._holds_write_lock = False
            self._write_lock.release()

    def insert(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        last = self._pending[-1] if self._pending else None
        if isinstance(last, _Insert) and last.table is table:
            last.rows.extend(rows)
        else:
            self._pending.append(_Insert(table, rows))

    def add_to_totals(self, params: dict[str, Any]) -> None:
        """Queues a share of the running totals; they commute, so all go last in one batch."""
        self._totals.append(params)

    def write(self, statement: UpdateBase, params: dict[str, Any]) -> None:
        self._pending.append((statement, params))

    async def flush(self) -> None:
        """Sends the queued writes in order; a reused idempotency key becomes a domain error."""
        pending, self._pending = self._pending, []
        totals, self._totals = self._totals, []
        if pending or totals:
            await self._before_write()
        for item in pending:
            if not isinstance(item, _Insert):
                await self._connection.execute(*item)
                continue
            try:
                await self._connection.execute(sa.insert(item.table), item.rows)
            except IntegrityError as error:
                if item.table is IDEMPOTENCY_KEYS and _is_unique_violation(error):
                    raise IdempotencyConflict(item.rows[0]["key"]) from error
                raise
        if totals:
            await self._connection.execute(ADD_TO_ROLLUP, totals)

    async def execute(self, statement: sa.Executable) -> sa.Result[*tuple[Any, ...]]:
        await self.flush()
        if isinstance(statement, UpdateBase):
            await self._before_write()
        return await self._connection.execute(statement)

    async def rows(
        self, statement: sa.Select[*tuple[Any, ...]], params: dict[str, Any] | None = None
    ) -> Sequence[sa.Row[Any]]:
        await self.flush()
        result: sa.Result[Any] = await self._connection.execute(statement, params)
        return result.all()


def _is_unique_violation(error: IntegrityError) -> bool:
    """Unique or primary-key violation, told apart from foreign-key ones.

    asyncpg reports SQLSTATE 23505; sqlite3 reports an extended error name instead.
    """
    original = error.orig
    return getattr(original, "sqlstate", None) == "23505" or getattr(
        original, "sqlite_errorname", None
    ) in {"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"}


class _SecondsBetween(sa.sql.functions.FunctionElement[float]):
    """``end - start`` in seconds; each database spells interval arithmetic its own way."""

    type = sa.Float()
    inherit_cache = True


@compiles(_SecondsBetween)
def _seconds_between(element: _SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(_SecondsBetween, "sqlite")
def _seconds_between_sqlite(element: _SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


# The statements of every turn, built once: building and hashing them per call showed up in
# profiles of the hot path.
_SESSION_BY_ID = sa.select(SESSIONS).where(
    SESSIONS.c.id == sa.bindparam("session_id"), SESSIONS.c.owner == sa.bindparam("owner")
)
_UPDATE_SESSION = sa.update(SESSIONS).where(SESSIONS.c.id == sa.bindparam("session_id"))
_TAIL = (
    sa.select(MESSAGES)
    .where(
        MESSAGES.c.session_id == sa.bindparam("session_id"),
        MESSAGES.c.seq > sa.bindparam("after_seq"),
    )
    .order_by(MESSAGES.c.seq.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)


class SqlSessionRepository:
    def __init__(self, work: SqlWork) -> None:
        self._work = work

    async def add(self, session: Session) -> None:
        self._work.insert(SESSIONS, [_values(session)])

    async def get(self, session_id: str, owner: str) -> Session | None:
        rows = await self._work.rows(_SESSION_BY_ID, {"session_id": session_id, "owner": owner})
        return Session(**rows[0]._asdict()) if rows else None

    async def update(self, session: Session) -> None:
        self._work.write(
            _UPDATE_SESSION, {"session_id": session.id} | _mutable_session_values(session)
        )

    async def delete(self, session_id: str, owner: str) -> bool:
        """One DELETE; the foreign keys cascade it and keep call records (see ``tables``)."""
        result = await self._work.execute(
            sa.delete(SESSIONS).where(SESSIONS.c.id == session_id, SESSIONS.c.owner == owner)
        )
        return cast(sa.CursorResult[Any], result).rowcount > 0

    async def list(
        self, owner: str, user_id: str | None, limit: int, offset: int
    ) -> Sequence[Session]:
        statement = (
            sa.select(SESSIONS)
            .where(*_owned_by(owner, user_id))
            .order_by(SESSIONS.c.created_at.desc(), SESSIONS.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [Session(**row._asdict()) for row in await self._work.rows(statement)]

    async def count(self, owner: str, user_id: str | None) -> int:
        statement = sa.select(sa.func.count()).select_from(SESSIONS)
        result = await self._work.execute(statement.where(*_owned_by(owner, user_id)))
        return int(result.scalar_one())

    async def stats(self, owner: str | None) -> SessionStats:
        columns = SESSIONS.c
        statement = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((columns.status == "active", 1), else_=0)), 0),
            sa.func.avg(_SecondsBetween(columns.created_at, columns.updated_at)),
        )
        if owner is not None:
            statement = statement.where(columns.owner == owner)
        total, active, average = (await self._work.execute(statement)).one()
        return SessionStats(
            active=int(active), total=int(total), avg_duration_s=float(average or 0.0)
        )


def _owned_by(owner: str, user_id: str | None) -> list[sa.ColumnElement[bool]]:
    conditions = [SESSIONS.c.owner == owner]
    if user_id is not None:
        conditions.append(SESSIONS.c.user_id == user_id)
    return conditions


def _mutable_session_values(session: Session) -> dict[str, Any]:
    """Every field but the session's identity (id, owner) and creation time."""
    values = _values(session)
    for immutable in ("id", "owner", "created_at"):
        del values[immutable]
    return values


def _values(entity: Any) -> dict[str, Any]:
    """A domain dataclass as the values of its row: the columns carry its field names."""
    return {field.name: getattr(entity, field.name) for field in dataclasses.fields(entity)}


class SqlMessageRepository:
    def __init__(self, work: SqlWork) -> None:
        self._work = work

    async def add_many(self, messages: Sequence[Message]) -> None:
        if messages:
            self._work.insert(MESSAGES, [_message_values(m) for m in messages])

    async def tail(self, session_id: str, after_seq: int, limit: int) -> Sequence[Message]:
        """Newest first on the (session_id, seq) index, then turned oldest first."""
        params = {"session_id": session_id, "after_seq": after_seq, "limit": limit}
        return [_message(row) for row in reversed(await self._work.rows(_TAIL, params))]

    async def between(self, session_id: str, from_seq: int, to_seq: int) -> Sequence[Message]:
        statement = (
            sa.select(MESSAGES)
            .where(MESSAGES.c.session_id == session_id, MESSAGES.c.seq.between(from_seq, to_seq))
            .order_by(MESSAGES.c.seq)
        )
        return [_message(row) for row in await self._work.rows(statement)]

    async def page(self, session_id: str, limit: int, offset: int) -> Sequence[Message]:
        statement = (
            sa.select(MESSAGES)
            .where(MESSAGES.c.session_id == session_id)
            .order_by(MESSAGES.c.seq)
            .limit(limit)
            .offset(offset)
        )
        return [_message(row) for row in await self._work.rows(statement)]


def _message_values(message: Message) -> dict[str, Any]:
    return _values(message) | {"cost": to_picodollars(message.cost)}


def _message(row: sa.Row[Any]) -> Message:
    return Message(**(row._asdict() | {"cost": from_picodollars(row.cost)}))


class SqlSummaryRepository:
    def __init__(self, work: SqlWork) -> None:
        self._work = work

    async def add(self, summary: SummaryVersion) -> None:
        self._work.insert(SUMMARIES, [_values(summary)])

    async def all(self, session_id: str) -> Sequence[SummaryVersion]:
        statement = (
            sa.select(SUMMARIES)
            .where(SUMMARIES.c.session_id == session_id)
            .order_by(SUMMARIES.c.version)
        )
        return [SummaryVersion(**row._asdict()) for row in await self._work.rows(statement)]


class SqlCallRepository:
    def __init__(self, work: SqlWork) -> None:
        self._work = work

    async def add(self, record: CallRecord) -> None:
        """Queues the record and its share of the running totals (``rollups``)."""
        usage = record.usage
        cost = to_picodollars(record.cost)
        self._work.insert(
            PROVIDER_CALLS,
            [
                {
                    "id": record.id,
                    "session_id": record.session_id,
                    "kind": record.kind,
                    "provider": record.provider,
                    "model": record.model,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cached_input_tokens": usage.cached_input_tokens,
                    "cache_write_tokens": usage.cache_write_tokens,
                    "reasoning_tokens": usage.reasoning_tokens,
                    "estimated": usage.estimated,
                    "cost": cost,
                    "latency_s": record.latency_s,
                    "ok": record.ok,
                    "error_code": record.error_code,
                    "created_at": record.created_at,
                }
            ],
        )
        self._work.add_to_totals(rollup_params(record, cost))

    async def totals(self, session_id: str | None) -> Sequence[CallTotals]:
        """Of every call: the rollups. Of a session: one aggregate query over its records,
        where ``SUM(cost)`` skips unknown (NULL) costs, counted apart."""
        if session_id is None:
            return totals_of(await self._work.rows(TOTALS), from_picodollars)
        calls = PROVIDER_CALLS.c
        statement = (
            sa.select(
                calls.provider,
                calls.kind,
                sa.func.count(),
                sa.func.sum(sa.case((calls.ok, 0), else_=1)),
                sa.func.sum(calls.input_tokens),
                sa.func.sum(calls.output_tokens),
                sa.func.sum(calls.cached_input_tokens),
                sa.func.sum(calls.cost),
                sa.func.count() - sa.func.count(calls.cost),
                sa.func.sum(calls.latency_s),
            )
            .where(calls.session_id == session_id)
            .group_by(calls.provider, calls.kind)
            .order_by(calls.provider, calls.kind)
        )
        return totals_of(await self._work.rows(statement), from_picodollars)


class SqlIdempotencyRepository:
    def __init__(self, work: SqlWork) -> None:
        self._work = work

    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        rows = await self._work.rows(
            sa.select(IDEMPOTENCY_KEYS).where(
                IDEMPOTENCY_KEYS.c.owner == owner, IDEMPOTENCY_KEYS.c.key == key
            )
        )
        return (rows[0].fingerprint, dict(rows[0].reply)) if rows else None

    async def add(
        self, owner: str, key: str, fingerprint: str, session_id: str, reply: dict[str, Any]
    ) -> None:
        """Queued; a key stored meanwhile by another request surfaces at commit."""
        self._work.insert(
            IDEMPOTENCY_KEYS,
            [
                {
                    "owner": owner,
                    "key": key,
                    "fingerprint": fingerprint,
                    "session_id": session_id,
                    "reply": reply,
                    "created_at": datetime.now(UTC),
                }
            ],
        )
