"""The repositories of ``src.domain.ports``, over the raw work of one unit of work.

Each repository says what to read or write with Core statements on the tables of ``tables``,
built once here with bound parameters; ``Work`` (the unit of work) compiles each once for its
database's driver and runs it (see ``compiled``). Writes are queued and sent together at
commit. Rows and domain dataclasses convert by name, since each column carries the name of
its field; money crosses as Decimal USD, stored as integer picodollars.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from src.domain.entities import (
    CallRecord,
    CallTotals,
    Message,
    Session,
    SessionStats,
    SummaryVersion,
)
from src.domain.llm import ContentPart, ImagePart, TextPart, ToolCall
from src.infrastructure.persistence.compiled import Statement
from src.infrastructure.persistence.rollups import TOTALS, totals_of
from src.infrastructure.persistence.tables import (
    IDEMPOTENCY_KEYS,
    MESSAGES,
    PROVIDER_CALLS,
    SESSIONS,
    SUMMARIES,
)
from src.infrastructure.persistence.window_cache import WindowCache
from src.infrastructure.persistence.writes import Insert, Update, Write

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


class Work(Protocol):
    """What the repositories of one unit of work share: its transaction and queued writes."""

    def queue(self, write: Write) -> None:
        """Held until commit (or until a read of this unit of work needs it sent first)."""
        ...

    async def rows(self, statement: Statement, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows of a select, each as ``{column name: value}``."""
        ...

    async def execute(self, statement: Statement, values: Mapping[str, Any]) -> int:
        """Runs a write now, inside this unit of work's transaction; the rows it changed."""
        ...

    @property
    def reads_committed(self) -> bool:
        """Whether a read now sees committed data only (nothing of this unit of work's own)."""
        ...

    def after_commit(self, action: Callable[[], None]) -> None:
        """Runs ``action`` once this unit of work's commit has succeeded (never otherwise)."""
        ...


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


def _param(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name)


def _owned(*, by_owner: bool = True, by_user: bool = False) -> list[sa.ColumnElement[bool]]:
    """Conditions on a session's owner (none: the admin's view of every tenant) and user."""
    conditions = [SESSIONS.c.owner == _param("owner")] if by_owner else []
    if by_user:
        conditions.append(SESSIONS.c.user_id == _param("user_id"))
    return conditions


def _limited(statement: sa.Select[Any]) -> sa.Select[Any]:
    return statement.limit(sa.bindparam("limit", type_=sa.Integer)).offset(
        sa.bindparam("offset", type_=sa.Integer)
    )


_BOTH = (False, True)
_SESSION_BY_ID = {
    by_owner: sa.select(SESSIONS).where(
        SESSIONS.c.id == _param("session_id"), *_owned(by_owner=by_owner)
    )
    for by_owner in _BOTH
}
_DELETE_SESSION = {
    by_owner: sa.delete(SESSIONS).where(
        SESSIONS.c.id == _param("session_id"), *_owned(by_owner=by_owner)
    )
    for by_owner in _BOTH
}
_LIST_SESSIONS = {
    (by_owner, by_user): _limited(
        sa.select(SESSIONS)
        .where(*_owned(by_owner=by_owner, by_user=by_user))
        .order_by(SESSIONS.c.created_at.desc(), SESSIONS.c.id.desc())
    )
    for by_owner in _BOTH
    for by_user in _BOTH
}
_COUNT_SESSIONS = {
    (by_owner, by_user): sa.select(sa.func.count().label("n"))
    .select_from(SESSIONS)
    .where(*_owned(by_owner=by_owner, by_user=by_user))
    for by_owner in _BOTH
    for by_user in _BOTH
}
_STATS = sa.select(
    sa.func.count().label("total"),
    sa.func.coalesce(sa.func.sum(sa.case((SESSIONS.c.status == "active", 1), else_=0)), 0).label(
        "active"
    ),
    sa.func.avg(_SecondsBetween(SESSIONS.c.created_at, SESSIONS.c.updated_at)).label("average"),
)
_SESSION_STATS = {False: _STATS, True: _STATS.where(SESSIONS.c.owner == _param("owner"))}
_TAIL = (
    sa.select(MESSAGES)
    .where(
        MESSAGES.c.session_id == _param("session_id"),
        MESSAGES.c.seq > _param("after_seq"),
        MESSAGES.c.seq <= _param("newest_seq"),
    )
    .order_by(MESSAGES.c.seq.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_BETWEEN = (
    sa.select(MESSAGES)
    .where(
        MESSAGES.c.session_id == _param("session_id"),
        MESSAGES.c.seq.between(_param("from_seq"), _param("to_seq")),
    )
    .order_by(MESSAGES.c.seq)
)
_PAGE = _limited(
    sa.select(MESSAGES)
    .where(MESSAGES.c.session_id == _param("session_id"))
    .order_by(MESSAGES.c.seq)
)
_SUMMARIES = (
    sa.select(SUMMARIES)
    .where(SUMMARIES.c.session_id == _param("session_id"))
    .order_by(SUMMARIES.c.version)
)
_calls = PROVIDER_CALLS.c
_TOTALS = (
    sa.select(
        _calls.provider,
        _calls.kind,
        sa.func.count().label("calls"),
        sa.func.sum(sa.case((_calls.ok, 0), else_=1)).label("failures"),
        sa.func.sum(_calls.input_tokens).label("input_tokens"),
        sa.func.sum(_calls.output_tokens).label("output_tokens"),
        sa.func.sum(_calls.cached_input_tokens).label("cached_input_tokens"),
        sa.func.sum(_calls.cost).label("cost"),
        (sa.func.count() - sa.func.count(_calls.cost)).label("calls_with_unknown_cost"),
        sa.func.sum(_calls.latency_s).label("latency_s_sum"),
    )
    .group_by(_calls.provider, _calls.kind)
    .order_by(_calls.provider, _calls.kind)
)
_SESSION_TOTALS = _TOTALS.where(_calls.session_id == _param("session_id"))
_CALL_TOTALS = {
    False: _SESSION_TOTALS,
    True: _SESSION_TOTALS.where(_calls.tenant == _param("tenant")),
}
_IDEMPOTENCY_KEY = sa.select(IDEMPOTENCY_KEYS.c.fingerprint, IDEMPOTENCY_KEYS.c.reply).where(
    IDEMPOTENCY_KEYS.c.owner == _param("owner"), IDEMPOTENCY_KEYS.c.key == _param("key")
)
_SESSION_IDENTITY = ("id", "owner", "created_at")


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(kind: type[Any]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(field.name for field in dataclasses.fields(kind))
    return names


def _values(entity: Any) -> dict[str, Any]:
    """A domain dataclass as the values of its row: the columns carry its field names."""
    return {name: getattr(entity, name) for name in _field_names(type(entity))}


class SqlSessionRepository:
    def __init__(self, work: Work, windows: WindowCache) -> None:
        self._work = work
        self._windows = windows

    async def add(self, session: Session) -> None:
        self._work.queue(Insert(SESSIONS, [_values(session)]))

    async def get(self, session_id: str, owner: str | None) -> Session | None:
        values = {"session_id": session_id, "owner": owner}
        rows = await self._work.rows(_SESSION_BY_ID[owner is not None], values)
        return Session(**rows[0]) if rows else None

    async def update(self, session: Session) -> None:
        """Every field but the session's identity (id, owner) and creation time."""
        values = _values(session)
        for immutable in _SESSION_IDENTITY:
            del values[immutable]
        self._work.queue(Update(SESSIONS, {"id": session.id}, values))

    async def delete(self, session_id: str, owner: str | None) -> bool:
        """One DELETE; the foreign keys cascade it and keep call records (see ``tables``)."""
        values = {"session_id": session_id, "owner": owner}
        deleted = await self._work.execute(_DELETE_SESSION[owner is not None], values) > 0
        if deleted:
            self._work.after_commit(partial(self._windows.forget, session_id))
        return deleted

    async def list(
        self, owner: str | None, user_id: str | None, limit: int, offset: int
    ) -> Sequence[Session]:
        values = {"owner": owner, "user_id": user_id, "limit": limit, "offset": offset}
        rows = await self._work.rows(_LIST_SESSIONS[owner is not None, user_id is not None], values)
        return [Session(**row) for row in rows]

    async def count(self, owner: str | None, user_id: str | None) -> int:
        values = {"owner": owner, "user_id": user_id}
        rows = await self._work.rows(
            _COUNT_SESSIONS[owner is not None, user_id is not None], values
        )
        return int(rows[0]["n"])

    async def stats(self, owner: str | None) -> SessionStats:
        (row,) = await self._work.rows(_SESSION_STATS[owner is not None], {"owner": owner})
        return SessionStats(
            active=int(row["active"]),
            total=int(row["total"]),
            avg_duration_s=float(row["average"] or 0.0),
        )


class SqlMessageRepository:
    """Windows come from ``windows`` while it can tell them (see ``window_cache``)."""

    def __init__(self, work: Work, windows: WindowCache) -> None:
        self._work = work
        self._windows = windows

    async def add_many(self, messages: Sequence[Message]) -> None:
        if messages:
            rows = [_values(m) | _message_columns(m) for m in messages]
            self._work.queue(Insert(MESSAGES, rows))
            by_session: dict[str, list[Message]] = {}
            for message in messages:
                by_session.setdefault(message.session_id, []).append(message)
            for session_id, added in by_session.items():
                self._work.after_commit(partial(self._windows.extend, session_id, added))

    async def tail(
        self, session_id: str, after_seq: int, limit: int, newest_seq: int
    ) -> Sequence[Message]:
        """Newest first on the (session_id, seq) index, then turned oldest first."""
        if (cached := self._windows.window(session_id, after_seq, limit, newest_seq)) is not None:
            return cached
        committed = self._work.reads_committed
        values = {
            "session_id": session_id,
            "after_seq": after_seq,
            "newest_seq": newest_seq,
            "limit": limit,
        }
        window = [_message(row) for row in reversed(await self._work.rows(_TAIL, values))]
        if committed:
            self._windows.remember(session_id, window, after_seq, limit, newest_seq)
        return window

    async def between(self, session_id: str, from_seq: int, to_seq: int) -> Sequence[Message]:
        values = {"session_id": session_id, "from_seq": from_seq, "to_seq": to_seq}
        return [_message(row) for row in await self._work.rows(_BETWEEN, values)]

    async def page(self, session_id: str, limit: int, offset: int) -> Sequence[Message]:
        values = {"session_id": session_id, "limit": limit, "offset": offset}
        return [_message(row) for row in await self._work.rows(_PAGE, values)]


def _message_columns(message: Message) -> dict[str, Any]:
    """The columns whose form differs from the field's: money and the JSON lists."""
    return {
        "cost": to_picodollars(message.cost),
        "tool_calls": [dataclasses.asdict(call) for call in message.tool_calls],
        "parts": [_part_json(part) for part in message.parts],
    }


def _part_json(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, ImagePart):
        return {"type": "image_url", "url": part.url, "detail": part.detail}
    return {"type": "text", "text": part.text}


def _part(data: dict[str, Any]) -> ContentPart:
    if data["type"] == "image_url":
        return ImagePart(data["url"], data.get("detail"))
    return TextPart(data["text"])


def _message(row: dict[str, Any]) -> Message:
    row["cost"] = from_picodollars(row["cost"])
    row["tool_calls"] = tuple(ToolCall(**call) for call in row["tool_calls"] or ())
    row["parts"] = tuple(_part(part) for part in row["parts"] or ())
    return Message(**row)


class SqlSummaryRepository:
    def __init__(self, work: Work) -> None:
        self._work = work

    async def add(self, summary: SummaryVersion) -> None:
        self._work.queue(Insert(SUMMARIES, [_values(summary)]))

    async def all(self, session_id: str) -> Sequence[SummaryVersion]:
        rows = await self._work.rows(_SUMMARIES, {"session_id": session_id})
        return [SummaryVersion(**row) for row in rows]


class SqlCallRepository:
    def __init__(self, work: Work) -> None:
        self._work = work

    async def add(self, record: CallRecord) -> None:
        usage = record.usage
        row = {
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
            "cost": to_picodollars(record.cost),
            "latency_s": record.latency_s,
            "ok": record.ok,
            "error_code": record.error_code,
            "created_at": record.created_at,
            "tenant": record.tenant,
            "key_id": record.key_id,
        }
        self._work.queue(Insert(PROVIDER_CALLS, [row]))

    async def totals(
        self, session_id: str | None, tenant: str | None = None
    ) -> Sequence[CallTotals]:
        """Of every call (or a tenant's): the rollups. Of a session: one aggregate query over
        its records, where ``SUM(cost)`` skips unknown (NULL) costs, counted apart."""
        values = {"session_id": session_id, "tenant": tenant}
        if session_id is None:
            statement = TOTALS[tenant is not None]
        else:
            statement = _CALL_TOTALS[tenant is not None]
        return totals_of(await self._work.rows(statement, values), from_picodollars)


class SqlIdempotencyRepository:
    def __init__(self, work: Work) -> None:
        self._work = work

    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        rows = await self._work.rows(_IDEMPOTENCY_KEY, {"owner": owner, "key": key})
        return (rows[0]["fingerprint"], dict(rows[0]["reply"])) if rows else None

    async def add(
        self, owner: str, key: str, fingerprint: str, session_id: str, reply: dict[str, Any]
    ) -> None:
        """Queued; a key stored meanwhile by another request surfaces at commit."""
        row = {
            "owner": owner,
            "key": key,
            "fingerprint": fingerprint,
            "session_id": session_id,
            "reply": reply,
            "created_at": datetime.now(UTC),
        }
        self._work.queue(Insert(IDEMPOTENCY_KEYS, [row]))
