"""A database that refuses connections, or a pool with none free, is StorageUnavailable (503)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.engine import make_url

from src.domain.analytics import SessionQuery
from src.domain.errors import StorageUnavailable
from src.infrastructure.persistence.analytics import SqlAnalytics
from src.infrastructure.persistence.engine import checkout, connected, create_engine
from tests.persistence.conftest import (  # noqa: F401 - postgres: the session-scoped fixture
    PostgresDatabases,
    execute_sql,
    postgres,
    require_postgres,
)


async def test_a_server_refusing_connections_is_storage_unavailable(
    postgres: PostgresDatabases | str,  # noqa: F811 - the fixture imported above
) -> None:
    url = await require_postgres(postgres).create()
    role = f"orch_limited_{uuid.uuid4().hex[:8]}"
    await execute_sql(url, f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    engine = create_engine(make_url(url).set(username=role).render_as_string(False))
    try:
        with pytest.raises(StorageUnavailable, match="refused"):
            await checkout(engine)
    finally:
        await engine.dispose()
        await execute_sql(url, f"DROP ROLE {role}")


async def test_a_pool_with_no_free_connection_is_storage_unavailable(tmp_path: object) -> None:
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path}/pool.db", pool_size=1, max_overflow=0, pool_timeout_s=0.05
    )
    try:
        async with connected(engine):
            with pytest.raises(StorageUnavailable, match="pool"):
                await checkout(engine)
    finally:
        await engine.dispose()


async def test_dashboard_reads_on_a_pool_with_no_free_connection_are_storage_unavailable(
    tmp_path: object,
) -> None:
    """The analytics reads have their own small pool; saturated, they answer 503 like turns."""
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path}/pool.db", pool_size=1, max_overflow=0, pool_timeout_s=0.05
    )
    try:
        async with connected(engine):
            with pytest.raises(StorageUnavailable, match="pool"):
                await SqlAnalytics(engine).sessions(SessionQuery(owner=None))
    finally:
        await engine.dispose()
