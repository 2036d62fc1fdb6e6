"""Alembic's entry point, with no alembic.ini: ``migrate.alembic_config`` builds the config.

``upgrade_database`` hands over its own connection in ``config.attributes["connection"]``
(it holds the migration lock on it and commits). Any other use of that config, such as
``command.check`` or ``command.revision(autogenerate=True)``, opens an async engine on
``sqlalchemy.url``; alembic's commands are synchronous, so call them from a worker thread.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.tables import METADATA


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        # SQLite can alter little in place; batch mode recreates tables for later revisions.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


given: Connection | None = context.config.attributes.get("connection")
if given is None:
    asyncio.run(run_on_url(context.config.get_main_option("sqlalchemy.url", "")))
else:
    run_migrations(given)
