"""The database tables, as SQLModel classes that never leave this package.

Repositories read and write them with Core statements on their ``__table__`` and turn rows
into the domain dataclasses of ``src.domain.entities`` by name, so every column is named
after its dataclass field (``metadata`` included, hence the ``meta`` attribute below).
Two column types keep both SQLite and PostgreSQL honest:

* ``UtcDateTime``: timestamps go in as UTC and come out timezone-aware UTC. PostgreSQL keeps
  the zone (``timestamptz``); SQLite stores naive text, so the zone is put back on read.
* money is a ``BigInteger`` count of picodollars (10^-12 USD), so ``SUM`` is exact on both
  databases; ``NULL`` means the cost is unknown, never zero.

Deleting a session cascades to its messages, summaries and idempotency keys through foreign
keys, while provider call records keep their money with ``session_id`` set to ``NULL``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite's DATETIME text has no zone: store the UTC wall time.
        return _wall_time(value) if dialect.name == "sqlite" else _to_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _read_as_utc(value)

    # On SQLite, each conversion in one step: the two above chained with the dialect's own
    # (its text format by ``%``, its parsing by a regular expression) cost a turn about 2 %
    # of its CPU, five timestamps written and two read (docs/benchmarks.md, round ten). The
    # text is the dialect's to the character, which a test pins.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _from_sqlite_text
        return super().result_processor(dialect, coltype)


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC)


def _wall_time(value: datetime) -> datetime:
    """The UTC wall time of an aware ``value``, naive."""
    return _to_utc(value).replace(tzinfo=None)


def _read_as_utc(value: datetime) -> datetime:
    """A stored timestamp as aware UTC: a naive one is the UTC wall time."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    """SQLite's ``DATETIME`` text of the UTC wall time: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return None if value is None else _wall_time(value).isoformat(" ", "microseconds")


def _from_sqlite_text(value: str | None) -> datetime | None:
    return None if value is None else _read_as_utc(datetime.fromisoformat(value))


def _session_fk(ondelete: str) -> Any:
    return Field(
        sa_type=sa.String,
        sa_column_args=[sa.ForeignKey("sessions.id", ondelete=ondelete)],
        nullable=ondelete == "SET NULL",
    )


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions"
    __table_args__ = (
        sa.Index("ix_sessions_owner_created_at", "owner", "created_at"),
        sa.Index("ix_sessions_owner_user_id", "owner", "user_id", "created_at"),
        sa.Index("ix_sessions_owner_updated_at", "owner", "updated_at"),
    )

    id: str = Field(sa_type=sa.String, primary_key=True)
    owner: str = Field(sa_type=sa.String)
    user_id: str | None = Field(default=None, sa_type=sa.String)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(sa_type=sa.String)
    # ``metadata`` is taken by SQLAlchemy's declarative base, hence the attribute name.
    meta: dict[str, Any] = Field(sa_column=sa.Column("metadata", sa.JSON, nullable=False))
    system_prompt: str | None = Field(default=None, sa_type=sa.Text)
    message_count: int
    summary: str | None = Field(default=None, sa_type=sa.Text)
    summary_through_seq: int
    summary_version: int
    live_tokens: int


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (sa.UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),)

    id: str = Field(sa_type=sa.String, primary_key=True)
    session_id: str = _session_fk("CASCADE")
    seq: int
    role: str = Field(sa_type=sa.String)
    content: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UtcDateTime)
    provider: str | None = Field(default=None, sa_type=sa.String)
    model: str | None = Field(default=None, sa_type=sa.String)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: int | None = Field(default=None, sa_type=sa.BigInteger)
    reasoning_content: str | None = Field(default=None, sa_type=sa.Text)
    interrupted: bool
    # Tool exchanges (``[{"id", "name", "arguments"}]``) and content parts, as JSON lists.
    tool_calls: list[dict[str, Any]] = Field(sa_type=sa.JSON)
    tool_call_id: str | None = Field(default=None, sa_type=sa.String)
    tool_name: str | None = Field(default=None, sa_type=sa.String)
    parts: list[dict[str, Any]] = Field(sa_type=sa.JSON)
    finish_reason: str | None = Field(default=None, sa_type=sa.String)


class SummaryRow(SQLModel, table=True):
    """One summary version; the primary key is the required UNIQUE(session_id, version)."""

    __tablename__ = "summaries"

    session_id: str = Field(
        sa_type=sa.String,
        sa_column_args=[sa.ForeignKey("sessions.id", ondelete="CASCADE")],
        primary_key=True,
    )
    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    content: str = Field(sa_type=sa.Text)
    from_seq: int
    to_seq: int
    created_at: datetime = Field(sa_type=UtcDateTime)
    provider: str = Field(sa_type=sa.String)
    model: str = Field(sa_type=sa.String)


class ProviderCallRow(SQLModel, table=True):
    __tablename__ = "provider_calls"
    __table_args__ = (
        sa.Index("ix_provider_calls_session_id", "session_id"),
        sa.Index("ix_provider_calls_provider", "provider"),
        sa.Index("ix_provider_calls_created_at", "created_at"),
        sa.Index(
            "ix_provider_calls_session_totals",
            "session_id",
            "provider",
            "input_tokens",
            "output_tokens",
            "cost",
        ),
        sa.Index("ix_provider_calls_tenant", "tenant"),
        sa.Index("ix_provider_calls_key_id", "key_id"),
    )

    id: str = Field(sa_type=sa.String, primary_key=True)
    session_id: str | None = _session_fk("SET NULL")
    kind: str = Field(sa_type=sa.String)
    provider: str = Field(sa_type=sa.String)
    model: str = Field(sa_type=sa.String)
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    estimated: bool
    cost: int | None = Field(default=None, sa_type=sa.BigInteger)
    latency_s: float
    ok: bool
    error_code: str | None = Field(default=None, sa_type=sa.String)
    created_at: datetime = Field(sa_type=UtcDateTime)
    tenant: str = Field(sa_type=sa.String)
    key_id: str | None = Field(default=None, sa_type=sa.String)


class IdempotencyKeyRow(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.Index("ix_idempotency_keys_session_id", "session_id"),)

    owner: str = Field(sa_type=sa.String, primary_key=True)
    key: str = Field(sa_type=sa.String, primary_key=True)
    fingerprint: str = Field(sa_type=sa.String)
    session_id: str = _session_fk("CASCADE")
    reply: dict[str, Any] = Field(sa_type=sa.JSON)
    created_at: datetime = Field(sa_type=UtcDateTime)


class ApiKeyRow(SQLModel, table=True):
    """An issued API key: its SHA-256 digest (unique, the lookup path), never the secret."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),)

    id: str = Field(sa_type=sa.String, primary_key=True)
    name: str = Field(sa_type=sa.String)
    tenant: str = Field(sa_type=sa.String)
    prefix: str = Field(sa_type=sa.String)
    secret_hash: str = Field(sa_type=sa.String)
    created_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    rate_limit_rpm: int | None = None
    token_limit_tpm: int | None = None
    # Picodollars, like every other sum of money here. ``spent`` is the sum of the key's call
    # records' cost, kept by a trigger on provider_calls (migration 0002) in the inserting
    # transaction, so no code path can record a call without charging its key.
    budget: int | None = Field(default=None, sa_type=sa.BigInteger)
    spent: int = Field(sa_type=sa.BigInteger)


class AgentPresetRow(SQLModel, table=True):
    """A tenant's named agent preset; its settings are one JSON document (``agents``)."""

    __tablename__ = "agent_presets"

    tenant: str = Field(sa_type=sa.String, primary_key=True)
    name: str = Field(sa_type=sa.String, primary_key=True)
    config: dict[str, Any] = Field(sa_type=sa.JSON)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class SessionLeaseRow(SQLModel, table=True):
    """Who holds a session's turn lock, until when (``locks``); no row means nobody."""

    __tablename__ = "session_leases"

    session_id: str = Field(sa_type=sa.String, primary_key=True)
    token: str = Field(sa_type=sa.String)
    expires_at: datetime = Field(sa_type=UtcDateTime)


class CallRollupRow(SQLModel, table=True):
    """Sums of the call records of one tenant, provider and kind (a share of them: see
    ``rollups``), kept by a trigger on ``provider_calls`` (migration 0004)."""

    __tablename__ = "call_rollups"

    tenant: str = Field(sa_type=sa.String, primary_key=True)
    provider: str = Field(sa_type=sa.String, primary_key=True)
    kind: str = Field(sa_type=sa.String, primary_key=True)
    bucket: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    calls: int = Field(sa_type=sa.BigInteger)
    failures: int = Field(sa_type=sa.BigInteger)
    input_tokens: int = Field(sa_type=sa.BigInteger)
    output_tokens: int = Field(sa_type=sa.BigInteger)
    cached_input_tokens: int = Field(sa_type=sa.BigInteger)
    cost: int = Field(sa_type=sa.BigInteger)  # picodollars
    unknown_cost_calls: int = Field(sa_type=sa.BigInteger)
    latency_s_sum: float


SESSIONS: sa.Table = SessionRow.__table__  # type: ignore[attr-defined]
MESSAGES: sa.Table = MessageRow.__table__  # type: ignore[attr-defined]
SUMMARIES: sa.Table = SummaryRow.__table__  # type: ignore[attr-defined]
PROVIDER_CALLS: sa.Table = ProviderCallRow.__table__  # type: ignore[attr-defined]
IDEMPOTENCY_KEYS: sa.Table = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]
API_KEYS: sa.Table = ApiKeyRow.__table__  # type: ignore[attr-defined]
AGENT_PRESETS: sa.Table = AgentPresetRow.__table__  # type: ignore[attr-defined]
CALL_ROLLUPS: sa.Table = CallRollupRow.__table__  # type: ignore[attr-defined]
METADATA = SQLModel.metadata
