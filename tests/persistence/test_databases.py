"""The raw databases: chosen by the URL's scheme, their connections and readiness."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from src.infrastructure.persistence.databases import database_for
from src.infrastructure.persistence.postgres_raw import PostgresDatabase
from src.infrastructure.persistence.sqlite_raw import SqliteDatabase


def _pragma(name: str) -> sa.Select[Any]:
    return sa.select(sa.literal_column("*")).select_from(sa.table(f"pragma_{name}"))


async def test_sqlite_connections_use_wal_foreign_keys_and_wait_for_the_writer(
    tmp_path: Path,
) -> None:
    """Both the readers' and the writer's connection."""
    database = SqliteDatabase(str(tmp_path / "x.db"))
    await database.open()
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    try:
        reader = [(await database.fetch(_pragma(n), {}))[0][0] for n in names]
        transaction = await database.begin()
        writer = [(await transaction.fetch(_pragma(n), {}))[0][0] for n in names]
        await transaction.rollback()
    finally:
        await database.aclose()
    assert reader == writer == ["wal", 1, 1, 5000]  # synchronous 1: NORMAL


async def test_a_reachable_database_is_reported_ready(
    database: SqliteDatabase | PostgresDatabase,
) -> None:
    assert await database.ping()


async def test_an_unreachable_or_closed_database_is_reported_not_ready(tmp_path: Path) -> None:
    closed_port = database_for("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    never_opened = database_for(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    await closed_port.open()
    try:
        assert not await closed_port.ping()
        assert not await never_opened.ping()
    finally:
        await closed_port.aclose()


async def test_a_sqlite_file_in_a_missing_folder_fails_at_open(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        await database_for(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'x.db'}").open()


@pytest.mark.parametrize(
    ("url", "reason"),
    [("mysql+aiomysql://db/orchestrator", "mysql"), ("sqlite+aiosqlite://", "in-memory")],
)
def test_an_unsupported_database_is_refused(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        database_for(url)


async def test_url_query_options_reach_the_driver(postgres_url: str) -> None:
    """As SQLAlchemy's dialect passes them: ``ssl=disable`` connects, a bad ``ssl`` does not."""
    for option, ready in (("disable", True), ("nonsense", False)):
        database = database_for(f"{postgres_url}?ssl={option}")
        await database.open()
        try:
            assert await database.ping() is ready
        finally:
            await database.aclose()
