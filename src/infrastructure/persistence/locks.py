"""Session locks: one turn at a time per session (SPEC §4), with a timeout.

Several processes or replicas must use PostgreSQL: ``PostgresSessionLocks`` holds an advisory
lock that every process sharing the database sees. ``LocalSessionLocks`` serializes turns only
inside one process, which is all SQLite (one writer, one process) can offer.

Each PostgreSQL hold keeps one connection for the whole turn, LLM call included. Those
connections come from a pool of their own, so held locks can never use up the pool the turns
need for their queries (which would deadlock every holder until the pool timeout); the
database's ``max_connections`` must therefore allow one more connection per turn in flight.
The lock pool keeps connections between turns (opening one costs ~10 ms); a connection whose
lock attempt was interrupted may hold a lock nobody knows of, so it is discarded, never reused.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from src.domain.errors import SessionBusy

FIRST_POLL_S = 0.005
MAX_POLL_S = 0.05


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``, the same in every process."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresSessionLocks:
    def __init__(self, engine: AsyncEngine, *, pool_size: int = 10) -> None:
        # Autocommit: no transaction (and no snapshot) stays open while the lock is held.
        # Overflow is generous: one connection per turn in flight, however many there are.
        self._engine = create_async_engine(
            engine.url,
            pool_size=pool_size,
            max_overflow=pool_size * 10,
            pool_pre_ping=True,
            isolation_level="AUTOCOMMIT",
        )

    @asynccontextmanager
    async def hold(self, session_id: str, timeout_s: float) -> AsyncIterator[None]:
        key = advisory_key(session_id)
        connection = await self._engine.connect()
        held: int | None = None
        reusable = False
        try:
            try:
                await _acquire(connection, key, session_id, timeout_s)
            except SessionBusy:
                reusable = True  # every poll answered: nothing is held
                raise
            held, reusable = key, True
            yield
        finally:
            # Shielded: a cancelled turn must still unlock and give its connection back.
            await asyncio.shield(_release(connection, held, reusable))

    async def aclose(self) -> None:
        await self._engine.dispose()


async def _acquire(
    connection: AsyncConnection, key: int, session_id: str, timeout_s: float
) -> None:
    """Polls ``pg_try_advisory_lock`` with a short backoff until ``timeout_s`` has passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pause = FIRST_POLL_S
    while not await connection.scalar(sa.select(sa.func.pg_try_advisory_lock(key))):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise SessionBusy(session_id, timeout_s)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, MAX_POLL_S)


async def _release(connection: AsyncConnection, key: int | None, reusable: bool) -> None:
    """Unlocks ``key`` if it was acquired and returns the connection to the lock pool.

    A connection that is not ``reusable`` (its lock attempt was interrupted midway) or whose
    unlock fails is discarded instead: that ends its database session, and PostgreSQL drops
    every advisory lock of a session that ends.
    """
    try:
        if not reusable:
            await connection.invalidate()
        elif key is not None:
            await connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
    except SQLAlchemyError:
        await connection.invalidate()
    finally:
        await connection.close()


@dataclass(slots=True)
class _LocalEntry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class LocalSessionLocks:
    """Per-session ``asyncio.Lock`` objects, dropped as soon as nobody holds or awaits them."""

    def __init__(self) -> None:
        self._entries: dict[str, _LocalEntry] = {}

    async def aclose(self) -> None:
        """Nothing to close: the locks live in this process."""

    @asynccontextmanager
    async def hold(self, session_id: str, timeout_s: float) -> AsyncIterator[None]:
        entry = self._entries.setdefault(session_id, _LocalEntry())
        entry.users += 1
        try:
            try:
                async with asyncio.timeout(timeout_s):
                    await entry.lock.acquire()
            except TimeoutError:
                raise SessionBusy(session_id, timeout_s) from None
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[session_id]


def session_locks_for(
    engine: AsyncEngine, *, pool_size: int = 10
) -> PostgresSessionLocks | LocalSessionLocks:
    """Advisory locks on PostgreSQL; in-process locks on SQLite (one process only).

    Close with ``aclose`` at shutdown.
    """
    if engine.dialect.name == "postgresql":
        return PostgresSessionLocks(engine, pool_size=pool_size)
    return LocalSessionLocks()
