"""The raw database for a ``DATABASE_URL``: SQLite or PostgreSQL, by the URL's scheme.

The URL keeps its SQLAlchemy form (``sqlite+aiosqlite:///path``, ``postgresql+asyncpg://...``)
because Alembic migrates through SQLAlchemy; the turns themselves run on the raw drivers.
The PostgreSQL driver and dialect are imported only for a PostgreSQL URL: a SQLite process
(the default) starts without them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import make_url

from src.infrastructure.persistence.locks import (
    DEFAULT_LEASE_TTL_S,
    LeaseSessionLocks,
    LocalSessionLocks,
)
from src.infrastructure.persistence.sqlite_raw import SqliteDatabase

if TYPE_CHECKING:
    from src.infrastructure.persistence.postgres_raw import PostgresDatabase


def database_for(
    database_url: str,
    *,
    pool_size: int = 10,
    pool_timeout_s: float = 10.0,
    trace: Callable[[str], None] | None = None,
) -> SqliteDatabase | PostgresDatabase:
    """The database ``database_url`` names, not yet open; ``ValueError`` for any other.

    ``trace`` sees each statement written (SQLite) or sent (PostgreSQL), for diagnostics.
    """
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            # Each connection would get its own empty database, unseen by the migrations.
            raise ValueError("in-memory SQLite is not supported: give a file path")
        return SqliteDatabase(url.database, trace=trace)
    if backend == "postgresql":
        from src.infrastructure.persistence.postgres_raw import PostgresDatabase

        # Query options (``?ssl=require``) are connection arguments, as SQLAlchemy's asyncpg
        # dialect passes them.
        dsn = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        options = {k: v for k, v in url.query.items() if isinstance(v, str)}
        return PostgresDatabase(
            dsn,
            pool_size=pool_size,
            pool_timeout_s=pool_timeout_s,
            trace=trace,
            connect_args=options,
        )
    raise ValueError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


def session_locks_for(
    database: SqliteDatabase | PostgresDatabase, *, lease_ttl_s: float = DEFAULT_LEASE_TTL_S
) -> LeaseSessionLocks | LocalSessionLocks:
    """Leases on PostgreSQL, on ``database``'s own pool; in-process locks on SQLite (one
    process only). Close with ``aclose`` at shutdown."""
    if isinstance(database, SqliteDatabase):
        return LocalSessionLocks()
    return LeaseSessionLocks(database.scalar, database.FAILURES, ttl_s=lease_ttl_s)
