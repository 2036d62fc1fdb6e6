"""The schema comes from the migrations, and they build exactly what the tables declare."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.migrate import alembic_config, upgrade_database
from src.infrastructure.persistence.tables import METADATA
from tests.persistence.conftest import PostgresDatabases, require_postgres

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "sessions",
    "messages",
    "summaries",
    "provider_calls",
    "idempotency_keys",
    "api_keys",
    "agent_presets",
    "session_leases",
    "call_rollups",
}


async def _schema(engine: AsyncEngine) -> tuple[set[str], str | None, list[object]]:
    """Tables, the applied revision, and the differences from the tables of ``tables``."""
    async with engine.connect() as connection:
        tables = set(await connection.run_sync(lambda c: sa.inspect(c).get_table_names()))
        context = await connection.run_sync(MigrationContext.configure)
        revision = await connection.run_sync(lambda _: context.get_current_revision())
        differences = await connection.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), METADATA)
        )
    return tables, revision, differences


async def test_a_blank_database_migrates_to_exactly_the_declared_tables(
    blank_database_url: str,
) -> None:
    await upgrade_database(blank_database_url)

    engine = create_engine(blank_database_url)
    try:
        tables, revision, differences = await _schema(engine)
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(blank_database_url)).get_current_head()
    assert tables == TABLES | {"alembic_version"}
    assert revision == head
    assert differences == []


async def test_upgrading_an_up_to_date_database_changes_nothing(blank_database_url: str) -> None:
    await upgrade_database(blank_database_url)
    engine = create_engine(blank_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO sessions VALUES ('s1', 'o', NULL, '2025-01-01', '2025-01-01',"
                    " 'active', '{}', NULL, 0, NULL, 0, 0, 0)"
                )
            )
        before = await _schema(engine)

        await upgrade_database(blank_database_url)

        after = await _schema(engine)
        async with engine.connect() as connection:
            kept = await connection.scalar(sa.text("SELECT count(*) FROM sessions"))
    finally:
        await engine.dispose()
    assert after == before
    assert kept == 1


async def test_alembic_check_finds_nothing_to_generate(blank_database_url: str) -> None:
    """The path developers use for new revisions (URL only, async engine inside env.py)."""
    await upgrade_database(blank_database_url)

    await asyncio.to_thread(command.check, alembic_config(blank_database_url))


async def test_replicas_starting_together_migrate_once(
    postgres: PostgresDatabases | str,
) -> None:
    """Separate processes, as replicas are (alembic's context is global to a process)."""
    url = await require_postgres(postgres).create()
    script = (
        "import asyncio, sys\n"
        "from src.infrastructure.persistence.migrate import upgrade_database\n"
        "asyncio.run(upgrade_database(sys.argv[1]))\n"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, cwd=REPO_ROOT, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    async with asyncio.timeout(60):
        outcomes = [((await p.communicate())[1], p.returncode) for p in processes]

    assert [code for _, code in outcomes] == [0, 0], [err.decode() for err, _ in outcomes]
    engine = create_engine(url)
    try:
        tables, revision, differences = await _schema(engine)
    finally:
        await engine.dispose()
    assert tables == TABLES | {"alembic_version"}
    assert revision is not None
    assert differences == []


async def test_downgrading_to_base_removes_every_table(blank_database_url: str) -> None:
    await upgrade_database(blank_database_url)

    await asyncio.to_thread(command.downgrade, alembic_config(blank_database_url), "base")

    engine = create_engine(blank_database_url)
    try:
        tables, revision, _ = await _schema(engine)
    finally:
        await engine.dispose()
    assert (tables, revision) == ({"alembic_version"}, None)
