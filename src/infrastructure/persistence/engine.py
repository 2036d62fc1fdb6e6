"""The SQLAlchemy engine for the two supported databases, for migrations and session locks.

SQLite (``sqlite+aiosqlite:///path``) suits one process: WAL lets readers run beside the
single writer, ``busy_timeout`` makes a second writer wait instead of failing, and foreign
keys must be switched on per connection for the cascades of ``tables`` to happen.
PostgreSQL (``postgresql+asyncpg://...``) suits several processes and replicas.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)


def create_engine(
    database_url: str, *, pool_size: int = 10, sqlite_busy_timeout_ms: int = 5000
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
        engine = create_async_engine(database_url, pool_size=pool_size, pool_reset_on_return=None)
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
            max_overflow=pool_size,
            pool_timeout=30,
            pool_recycle=1800,  # under the idle limits of common proxies and load balancers
            pool_pre_ping=True,
        )
    raise ValueError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )
