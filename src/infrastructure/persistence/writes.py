"""The writes a unit of work queues until commit, and the Core statements that carry them.

Repositories only say what to write (rows to insert, a row to update by its primary key);
each database turns a unit of work's writes into as few round trips as it can: SQLite runs
them on its writer thread inside a group commit, PostgreSQL sends them as one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from src.domain.errors import IdempotencyConflict
from src.infrastructure.persistence.tables import IDEMPOTENCY_KEYS


@dataclass(frozen=True, slots=True)
class Insert:
    table: sa.Table
    rows: list[dict[str, Any]]

    @property
    def shape(self) -> tuple[str, str, tuple[str, ...]]:
        return ("insert", self.table.name, tuple(self.rows[0]))


@dataclass(frozen=True, slots=True)
class Update:
    """Sets ``values`` on the one row whose primary key columns equal ``key``."""

    table: sa.Table
    key: dict[str, Any]
    values: dict[str, Any]

    @property
    def shape(self) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
        return ("update", self.table.name, tuple(self.key), tuple(self.values))


Write = Insert | Update


def insert_statement(
    table: sa.Table, columns: Sequence[str], rows: int = 1, prefix: str = ""
) -> sa.Insert:
    """``INSERT`` of ``rows`` rows; row ``i``'s value of column ``c`` binds as ``{prefix}{i}_{c}``
    (a single row binds as ``{prefix}{c}``)."""
    # Typed binds: past the first row SQLAlchemy does not infer a column's type, and without it
    # no bind processor (JSON, timestamps) would run for the later rows.
    if rows == 1:
        return sa.insert(table).values({c: _bind(table, c, f"{prefix}{c}") for c in columns})
    return sa.insert(table).values(
        [{c: _bind(table, c, f"{prefix}{i}_{c}") for c in columns} for i in range(rows)]
    )


def _bind(table: sa.Table, column: str, name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=table.c[column].type)


def update_statement(
    table: sa.Table, key: Sequence[str], columns: Sequence[str], prefix: str = ""
) -> sa.Update:
    """``UPDATE`` by primary key; key columns bind as ``{prefix}key_{c}``, values as
    ``{prefix}{c}``."""
    return (
        sa.update(table)
        .where(*(table.c[k] == sa.bindparam(f"{prefix}key_{k}") for k in key))
        .values({c: sa.bindparam(f"{prefix}{c}") for c in columns})
    )


def update_values(update: Update, prefix: str = "") -> dict[str, Any]:
    """The bind values of ``update_statement`` for ``update``."""
    values = {f"{prefix}{c}": v for c, v in update.values.items()}
    values.update({f"{prefix}key_{k}": v for k, v in update.key.items()})
    return values


def idempotency_conflict(writes: Sequence[Write]) -> IdempotencyConflict:
    """The domain error for a unique violation on the idempotency key among ``writes``."""
    for write in writes:
        if isinstance(write, Insert) and write.table is IDEMPOTENCY_KEYS:
            return IdempotencyConflict(write.rows[0]["key"])
    raise AssertionError("no idempotency key among the writes")  # pragma: no cover
