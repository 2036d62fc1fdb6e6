"""Session locks: one turn at a time per session (SPEC §4), with a timeout.

Several processes or replicas must use PostgreSQL: ``LeaseSessionLocks`` keeps a lease row per
held session (``session_leases``: owner token and expiry) that every process sharing the
database sees. ``LocalSessionLocks`` serializes turns only inside one process, which is all
SQLite (one writer, one process) can offer.

A lease holds no connection while the turn waits on its provider: taking and renewing it are
one prepared statement each, in its own implicit transaction, on the raw asyncpg pool the
turns use (``PostgresDatabase.scalar``): one round trip, where the same statement on a
SQLAlchemy engine took four (pre-ping, begin, statement, commit). So a process never needs
more connections than its pool allows, however many turns are in flight. Inside a process,
turns of one session queue on a local lock first, so only one of them polls the database.

A turn writes once under its lease: its commit (the turn pipeline's one ``persist``). So that
commit also ends the lease: it deletes the lease row as a part of its own statement or
transaction, only if the token is still the holder's and unexpired, and fails with
``SessionBusy`` otherwise (fencing): as a part of the commit's one statement (``lease_proof``,
see ``postgres_raw``), or inside the commit's transaction for a unit of work that read after
writing (``prove_leases_with``). The delete locks the lease row until the commit ends, so a
newer holder can neither take the lease in between nor be overwritten by an expired one, and
its turn reads the session only after the commit. A turn then leaves with no round trip of
its own for the lease. A second commit under the same hold finds no lease of its own and
fails as a stale holder's would: fencing stays closed. A turn that leaves without committing
(refused, failed before storing anything, cancelled) gives its lease back by a task of its
own, and the local lock only after it: the answer does not wait for that round trip, and the
process's next turn of the session still starts only once the lease row is gone (``aclose``
waits for the releases under way).

A lease expires ``ttl_s`` after its last renewal; the holder renews it every third of that
while the turn runs, so only a holder that died or lost the database for ``ttl_s`` loses it.
The leases a task holds travel in a context variable, so the ports stay as they are: the
commit finds them without the domain handing over a token.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from src.domain.errors import SessionBusy, StorageUnavailable

FIRST_POLL_S = 0.005
MAX_POLL_S = 0.05
DEFAULT_LEASE_TTL_S = 15.0

log = logging.getLogger("orchestrator.locks")

# Taking, renewing and giving back a lease commit without waiting for the WAL to be flushed
# to disk: ``set_config(..., true)`` turns ``synchronous_commit`` off for the statement's own
# transaction only. Otherwise each would wait for an fsync, and taking one is on every turn's
# way to its answer (0.11 ms on the test machine's disk; a millisecond or more on network
# block storage). What a server crash can lose is harmless: a lease whose taking was lost
# leaves its holder unable to commit (the turn's commit, which does wait for the flush,
# proves the lease in its own statement: ``lease_proof``); a lost release leaves a row that
# expires after ``ttl_s``. The end of a lease inside a commit (``END_LEASE``) is flushed with
# the commit, so the turn's own data are flushed before it answers.
_UNFLUSHED = "(SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"

_TAKE = sa.text(
    "INSERT INTO session_leases (session_id, token, expires_at)"  # noqa: S608 - constants
    f" SELECT :session_id, :token, now() + make_interval(secs => :ttl) FROM {_UNFLUSHED}"
    " ON CONFLICT (session_id) DO UPDATE"
    " SET token = excluded.token, expires_at = excluded.expires_at"
    " WHERE session_leases.expires_at <= now()"
    " RETURNING token"
)


_RENEW = sa.text(
    "UPDATE session_leases"  # noqa: S608 - constants
    f" SET expires_at = now() + make_interval(secs => :ttl) FROM {_UNFLUSHED}"
    " WHERE session_id = :session_id AND token = :token AND expires_at > now()"
    " RETURNING token"
)
_RELEASE = sa.text(
    f"DELETE FROM session_leases USING {_UNFLUSHED}"  # noqa: S608 - constants
    " WHERE session_id = :session_id AND token = :token"
)


#: What a lease's end binds (``_ending``), in the order of ``Lease.proof_values``.
LEASE_PROOF_BINDS = ("session_id", "token")


def _ending(prefix: str = "") -> str:
    """A lease ended by its holder's commit, if still its own and unexpired: one row back,
    else none. Binds ``LEASE_PROOF_BINDS``, each prefixed."""
    # Only ``prefix`` (the caller's constant) is formatted in; every value is a bind.
    return (
        "DELETE FROM session_leases"  # noqa: S608
        f" WHERE session_id = :{prefix}session_id AND token = :{prefix}token"
        " AND expires_at > now() RETURNING token"
    )


@dataclass(slots=True)
class Lease:
    session_id: str
    token: str
    ttl_s: float
    #: Set once a commit made under the lease ended it: nothing is left to give back.
    ended: bool = False

    @property
    def params(self) -> dict[str, object]:
        return {"session_id": self.session_id, "token": self.token, "ttl": self.ttl_s}

    @property
    def proof_values(self) -> tuple[str, str]:
        """The values of ``LEASE_PROOF_BINDS``, in order."""
        return self.session_id, self.token


_HELD: contextvars.ContextVar[tuple[Lease, ...]] = contextvars.ContextVar(
    "session_leases_held", default=()
)


def held_leases() -> tuple[Lease, ...]:
    """The leases the current task holds, for a commit to prove."""
    return _HELD.get()


END_LEASE = sa.text(_ending())  # what a unit of work runs, per lease held, inside its commit


async def prove_leases_with(
    leases: Sequence[Lease], end: Callable[[Lease], Awaitable[object]]
) -> None:
    """Inside a commit's transaction: every one of ``leases`` is still its holder's.

    ``end`` runs ``END_LEASE`` for a lease on the commit's own connection and returns its
    token, or None when the lease expired, was taken over or was already ended: then
    ``SessionBusy`` is raised, so the commit rolls back. Once the transaction has committed,
    the caller marks the leases ``ended_by_commit``.
    """
    for lease in leases:
        if await end(lease) is None:
            raise lease_lost(lease)


def ended_by_commit(leases: Sequence[Lease]) -> None:
    """After the commit that proved ``leases`` went through: their rows are gone."""
    for lease in leases:
        lease.ended = True


def lease_lost(lease: Lease) -> SessionBusy:
    """What a commit whose lease expired or was taken over fails with (it stored nothing)."""
    log.warning("session %s: lease lost before commit; turn rolled back", lease.session_id)
    return SessionBusy(lease.session_id, lease.ttl_s)


def lease_proof(index: int) -> str:
    """``END_LEASE`` as a part of a larger statement, its binds prefixed ``l{index}_``."""
    return _ending(f"l{index}_")


#: Runs one statement in a transaction of its own; the first column of its first row (None
#: without one). ``PostgresDatabase.scalar``.
Scalar = Callable[[sa.TextClause, Mapping[str, object]], Awaitable[object]]


class LeaseSessionLocks:
    """``failures`` are the errors ``scalar`` raises when the database fails (its driver's):
    a renewal or a release that meets one is logged and outlived, the lease then expires."""

    def __init__(
        self,
        scalar: Scalar,
        failures: tuple[type[Exception], ...],
        *,
        ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        self._scalar = scalar
        self._failures: tuple[type[Exception], ...] = (StorageUnavailable, *failures)
        self._ttl_s = ttl_s
        self._local = LocalSessionLocks()
        self._releases: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def hold(self, session_id: str, timeout_s: float) -> AsyncIterator[None]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        release_local = await self._local.acquire(session_id, timeout_s)
        lease = Lease(session_id, secrets.token_hex(16), self._ttl_s)
        try:
            await self._take(lease, deadline, timeout_s)
        except BaseException:
            # Interrupted, the last attempt may have taken the lease unseen: give it back.
            self._give_back(lease, release_local)
            raise
        before = _HELD.get()
        _HELD.set((*before, lease))
        renewing = asyncio.create_task(self._renew(lease))
        try:
            yield
        finally:
            renewing.cancel()
            _HELD.set(before)
            if lease.ended:
                release_local()
            else:
                self._give_back(lease, release_local)

    async def aclose(self) -> None:
        """Waits for the leases still being given back (the pool is its owner's to close)."""
        while self._releases:
            await asyncio.gather(*self._releases)

    def _give_back(self, lease: Lease, release_local: Callable[[], None]) -> None:
        """Deletes the lease in a task of its own (which a cancelled turn does not cancel),
        so the answer does not wait for that round trip, and lets the session's local lock go
        after it: this process's next turn of the session starts once the row is gone."""

        async def give_back() -> None:
            try:
                await self._release(lease)
            finally:
                release_local()

        task = asyncio.create_task(give_back())
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _take(self, lease: Lease, deadline: float, timeout_s: float) -> None:
        """Tries to take the lease with a short backoff until ``deadline``."""
        loop = asyncio.get_running_loop()
        pause = FIRST_POLL_S
        while True:
            if await self._scalar(_TAKE, lease.params) is not None:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SessionBusy(lease.session_id, timeout_s)
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, MAX_POLL_S)

    async def _renew(self, lease: Lease) -> None:
        """Extends the lease every third of its lifetime until cancelled."""
        while True:
            await asyncio.sleep(lease.ttl_s / 3)
            try:
                kept = await self._scalar(_RENEW, lease.params)
            except self._failures as error:
                log.warning("session %s: lease renewal failed (%s)", lease.session_id, error)
                continue
            if kept is None:
                if not lease.ended:
                    log.warning("session %s: lease expired while the turn ran", lease.session_id)
                return

    async def _release(self, lease: Lease) -> None:
        """Deletes the lease if it is still ours; on any failure it simply expires (this runs
        in a task nobody awaits, so nothing may escape it)."""
        try:
            await self._scalar(_RELEASE, lease.params)
        except Exception as error:  # noqa: BLE001 - logged; the lease expires by itself
            log.warning(
                "session %s: lease release failed (%s)", lease.session_id, type(error).__name__
            )


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

    async def acquire(self, session_id: str, timeout_s: float) -> Callable[[], None]:
        """Waits up to ``timeout_s`` for the session's lock (``SessionBusy`` past it); returns
        what gives it back, to call exactly once."""
        entry = self._entries.setdefault(session_id, _LocalEntry())
        entry.users += 1
        try:
            if entry.users == 1:  # nobody holds or awaits it: taken at once, no timer needed
                await entry.lock.acquire()
            else:
                async with asyncio.timeout(timeout_s):
                    await entry.lock.acquire()
        except BaseException as error:
            self._leave(session_id, entry)
            if isinstance(error, TimeoutError):
                raise SessionBusy(session_id, timeout_s) from None
            raise

        def release() -> None:
            entry.lock.release()
            self._leave(session_id, entry)

        return release

    @asynccontextmanager
    async def hold(self, session_id: str, timeout_s: float) -> AsyncIterator[None]:
        release = await self.acquire(session_id, timeout_s)
        try:
            yield
        finally:
            release()

    def _leave(self, session_id: str, entry: _LocalEntry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._entries[session_id]
