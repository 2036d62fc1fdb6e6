"""Real databases for the persistence tests: SQLite files and the local PostgreSQL.

PostgreSQL tests run in databases created for this test session (``orch_test_<hex>``, made
from the ``test`` database and dropped at the end); they are skipped, saying why, only when
the server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from src.infrastructure.persistence.databases import database_for
from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.migrate import upgrade_database
from src.infrastructure.persistence.postgres_raw import PostgresDatabase
from src.infrastructure.persistence.sqlite_raw import SqliteDatabase
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from src.infrastructure.persistence.window_cache import WindowCache

ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = (
    "sessions, messages, summaries, provider_calls, idempotency_keys, api_keys, agent_presets,"
    " session_leases, call_rollups"
)


class PostgresDatabases:
    """Creates throw-away databases on the test server and drops them all at the end."""

    def __init__(self, admin: asyncpg.Connection) -> None:
        self._admin = admin
        self._names: list[str] = []
        self._shared: str | None = None

    async def create(self) -> str:
        name = f"orch_test_{uuid.uuid4().hex[:12]}"
        await self._admin.execute(f'CREATE DATABASE "{name}"')
        self._names.append(name)
        server = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{server}/{name}"

    async def shared(self) -> str:
        """One migrated database for the whole session, emptied before each use."""
        if self._shared is None:
            self._shared = await self.create()
            await upgrade_database(self._shared)
        await execute_sql(self._shared, f"TRUNCATE {TABLES}")
        return self._shared

    async def drop_all(self) -> None:
        for name in self._names:
            await self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def execute_sql(url: str, sql: str) -> object:
    """Runs one statement outside the code under test and returns its first value."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[PostgresDatabases | str]:
    """The database maker, or the reason PostgreSQL tests are skipped."""
    try:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        yield f"PostgreSQL is unreachable at the test server ({type(error).__name__}: {error})"
        return
    databases = PostgresDatabases(admin)
    try:
        yield databases
    finally:
        await databases.drop_all()
        await admin.close()


def require_postgres(postgres: PostgresDatabases | str) -> PostgresDatabases:
    if isinstance(postgres, str):
        pytest.skip(postgres)
    return postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def blank_database_url(
    backend: str, tmp_path: Path, postgres: PostgresDatabases | str
) -> str:
    """An empty database that no migration has touched yet."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
    return await require_postgres(postgres).create()


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, postgres: PostgresDatabases | str) -> str:
    """A migrated, empty database: a new SQLite file, or the shared PostgreSQL one."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'orchestrator.db'}"
        await upgrade_database(url)
        return url
    return await require_postgres(postgres).shared()


@pytest.fixture
async def postgres_url(postgres: PostgresDatabases | str) -> str:
    """The shared PostgreSQL database alone, for what only PostgreSQL does."""
    return await require_postgres(postgres).shared()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """SQLAlchemy on the same database: what the session locks and the tests' checks use."""
    engine = create_engine(database_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[SqliteDatabase | PostgresDatabase]:
    """The raw database the service runs its turns on, open."""
    database = database_for(database_url, pool_size=4)
    await database.open()
    try:
        yield database
    finally:
        await database.aclose()


@pytest.fixture
def windows() -> WindowCache:
    """A cache of windows as the service has one, so every read here may come through it."""
    return WindowCache(budget_bytes=1_000_000, keep=50)


@pytest.fixture
def uow_factory(
    database: SqliteDatabase | PostgresDatabase, windows: WindowCache
) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(database, windows)
