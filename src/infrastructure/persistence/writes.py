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


def insert_binds(columns: Sequence[str], rows: int = 1, prefix: str = "") -> list[list[str]]:
    """The bind names of an ``INSERT`` of ``rows`` rows, row by row and column by column:
    row ``i``'s value of column ``c`` binds as ``{prefix}{i}_{c}`` (a single row's as
    ``{prefix}{c}``)."""
    if rows == 1:
        return [[f"{prefix}{c}" for c in columns]]
    return [[f"{prefix}{i}_{c}" for c in columns] for i in range(rows)]


def update_binds(
    key: Sequence[str], columns: Sequence[str], prefix: str = ""
) -> tuple[list[str], list[str]]:
    """The bind names of an ``UPDATE`` by primary key: its values' (``{prefix}{c}``), then
    its key columns' (``{prefix}key_{c}``)."""
    return [f"{prefix}{c}" for c in columns], [f"{prefix}key_{k}" for k in key]


def insert_statement(
    table: sa.Table, columns: Sequence[str], rows: int = 1, prefix: str = ""
) -> sa.Insert:
    """``INSERT`` of ``rows`` rows, bound as ``insert_binds`` names them."""
    # Typed binds: past the first row SQLAlchemy does not infer a column's type, and without it
    # no bind processor (JSON, timestamps) would run for the later rows.
    names = insert_binds(columns, rows, prefix)
    values = [
        {c: _bind(table, c, name) for c, name in zip(columns, row, strict=True)} for row in names
    ]
    return sa.insert(table).values(values[0] if rows == 1 else values)


def _bind(table: sa.Table, column: str, name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=table.c[column].type)


def update_statement(
    table: sa.Table, key: Sequence[str], columns: Sequence[str], prefix: str = ""
) -> sa.Update:
    """``UPDATE`` by primary key, bound as ``update_binds`` names them."""
    values, keys = update_binds(key, columns, prefix)
    return (
        sa.update(table)
        .where(*(table.c[k] == sa.bindparam(name) for k, name in zip(key, keys, strict=True)))
        .values({c: sa.bindparam(name) for c, name in zip(columns, values, strict=True)})
    )


def update_values(update: Update, prefix: str = "") -> dict[str, Any]:
    """The bind values of ``update_statement`` for ``update``, under ``update_binds``'s names
    (written out here: this runs at every commit of an update, that once per statement)."""
    values = {f"{prefix}{c}": v for c, v in update.values.items()}
    values.update({f"{prefix}key_{k}": v for k, v in update.key.items()})
    return values


def idempotency_conflict(writes: Sequence[Write]) -> IdempotencyConflict:
    """The domain error for a unique violation on the idempotency key among ``writes``."""
    for write in writes:
        if isinstance(write, Insert) and write.table is IDEMPOTENCY_KEYS:
            return IdempotencyConflict(write.rows[0]["key"])
    raise AssertionError("no idempotency key among the writes")  # pragma: no cover
