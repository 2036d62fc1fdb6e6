"""Applying the Alembic migrations, at start-up and from the ``db upgrade`` command.

The configuration is built in code (no alembic.ini on disk) and points at the ``migrations``
folder shipped inside this package. On PostgreSQL, concurrent starts of several replicas
serialize on a transaction-scoped advisory lock, so only the first one migrates and the
others find the database already at head.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from src.infrastructure.persistence.engine import create_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``, the same in every process."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


MIGRATION_LOCK_KEY = advisory_key("orchestrator:migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The config is a ConfigParser: a '%' (in an escaped password) must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade_database(database_url: str) -> list[str]:
    """Applies every migration not yet applied; a no-op on a database already at head.

    Returns what was applied, oldest first, as ``"<revision> <description>"`` lines (empty
    when the database was at head already). Processes may call this at the same time on
    PostgreSQL. Within one process, call it once at a time: alembic keeps its migration
    context in module globals.
    """
    config = alembic_config(database_url)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY))
                )
            applied = await connection.run_sync(_upgrade_to_head, config)
            await connection.commit()
    finally:
        await engine.dispose()
    return applied


def _upgrade_to_head(connection: Connection, config: Config) -> list[str]:
    before = MigrationContext.configure(connection).get_current_revision()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    scripts = ScriptDirectory.from_config(config)
    pending = scripts.iterate_revisions(scripts.get_current_head(), before)
    return [f"{s.revision} {s.doc.splitlines()[0]}" for s in reversed(list(pending))]
