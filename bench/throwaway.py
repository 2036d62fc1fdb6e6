"""Throw-away PostgreSQL databases for the benchmarks, created beside a given one and dropped
after use.

Kept apart from the stages (``bench.postgres``), and free of any import of ``src``: the
instruction counter (``bench.instructions``) imports this before it imports the application
from the checkout it measures, which need not be this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import asyncpg


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new database next to ``admin_url``'s (a libpq URL), as a SQLAlchemy URL for the
    gateway; dropped on leaving."""
    name = f"orchestrator_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    server = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{server}/{name}"
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def throwaway_database_if(admin_url: str | None) -> Iterator[str | None]:
    """``throwaway_database(admin_url)``, or ``None`` (the gateway's SQLite default) without
    a server."""
    if admin_url is None:
        yield None
    else:
        with throwaway_database(admin_url) as url:
            yield url
