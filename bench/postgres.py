"""The same gateway on PostgreSQL, when a server is given: overhead and throughput stages.

``--postgres URL`` names a database on a server where the benchmark may create and drop a
throw-away database of its own (``orchestrator_bench_<hex>``), e.g. the ``test`` database of
the local server. The gateway then runs a second time, on that database, with the same
production settings, pinned the same way; the PostgreSQL server itself is not pinned and
shares the machine with everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import asyncpg

from bench.stages import POSTGRES_TARGETS, Bench, overhead, saturation, warm_up


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


def postgres_stages(bench: Bench, connections: tuple[int, ...]) -> None:
    """``bench`` is a run on the PostgreSQL gateway: its rows go to the one table."""
    bench.targets, bench.label = POSTGRES_TARGETS, "PostgreSQL: "
    warm_up(bench)
    overhead(bench)
    for count in connections:
        saturation(bench, count)
