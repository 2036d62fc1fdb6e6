"""The SQLAlchemy engine for the two supported databases, for migrations and session locks.

SQLite (``sqlite+aiosqlite:///path``) suits one process: WAL lets readers run beside the
single writer, ``busy_timeout`` makes a second writer wait instead of failing, and foreign
keys must be switched on per connection for the cascades of ``tables`` to happen.
PostgreSQL (``postgresql+asyncpg://...``) suits several processes and replicas. Its pool is
the process's whole connection budget, ``pool_size + max_overflow`` (session locks borrow from
it for single statements too, see ``locks``); a checkout that waits past ``pool_timeout_s``, or a
connection the server refuses, becomes ``StorageUnavailable`` (503 with ``Retry-After``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from src.domain.errors import StorageUnavailable

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)


def create_engine(
    database_url: str,
    *,
    pool_size: int = 6,
    max_overflow: int = 2,
    pool_timeout_s: float = 10.0,
    sqlite_busy_timeout_ms: int = 5000,
) -> AsyncEngine:
    """An engine for ``database_url``; raises ``ValueError`` for any other database."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            # Each connection would get its own empty database, unseen by the migrations.
            raise ValueError("in-memory SQLite is not supported: give a file path")
        # Closing a connection already rolls back what it left open; the pool's own reset
        # would be a second round trip to SQLite's worker thread on every unit of work.
        engine = create_async_engine(
            database_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout_s,
            pool_reset_on_return=None,
        )
        pragmas = (*SQLITE_PRAGMAS, f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")

        def apply_pragmas(dbapi_connection: Any, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            try:
                for pragma in pragmas:
                    cursor.execute(pragma)
            finally:
                cursor.close()

        event.listen(engine.sync_engine, "connect", apply_pragmas)
        return engine
    if backend == "postgresql":
        return create_async_engine(
            database_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout_s,
            pool_recycle=1800,  # under the idle limits of common proxies and load balancers
            pool_pre_ping=True,
        )
    raise ValueError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


# SQLSTATEs of a server refusing a connection: too many clients, or shutting down / starting.
_REFUSED_STATES = frozenset({"53300", "53400", "57P01", "57P03"})


async def checkout(engine: AsyncEngine) -> AsyncConnection:
    """A pooled connection; a saturated pool or a refusing server is ``StorageUnavailable``."""
    try:
        return await engine.connect()
    except PoolTimeout as error:
        raise StorageUnavailable("no free connection in this process's pool") from error
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) in _REFUSED_STATES:
            raise StorageUnavailable("the database server refused a connection") from error
        raise


@asynccontextmanager
async def connected(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """``checkout`` as a block that gives the connection back (rolling back what is open)."""
    connection = await checkout(engine)
    try:
        yield connection
    finally:
        await connection.close()
