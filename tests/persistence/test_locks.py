"""One turn at a time per session: inside a process, and across processes on PostgreSQL.

On PostgreSQL the lock is a lease row; holding it keeps no connection checked out, and a
commit by a holder whose lease was taken over fails instead of overwriting the new holder.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from src.domain.entities import Session
from src.domain.errors import SessionBusy
from src.domain.ports import SessionLocks
from src.infrastructure.persistence.databases import database_for, session_locks_for
from src.infrastructure.persistence.locks import (
    LeaseSessionLocks,
    LocalSessionLocks,
)
from src.infrastructure.persistence.migrate import advisory_key
from src.infrastructure.persistence.postgres_raw import PostgresDatabase
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.conftest import execute_sql


async def _max_concurrency(lockers: list[SessionLocks], session_id: str, turns: int) -> int:
    """Runs ``turns`` holds spread over ``lockers``; the most that were ever inside at once."""
    inside = most = 0

    async def turn(locks: SessionLocks) -> None:
        nonlocal inside, most
        async with locks.hold(session_id, timeout_s=10):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.005)
            inside -= 1

    await asyncio.gather(*(turn(lockers[i % len(lockers)]) for i in range(turns)))
    return most


async def _busy_after(locks: SessionLocks, session_id: str, timeout_s: float) -> float:
    started = time.monotonic()
    with pytest.raises(SessionBusy):
        async with locks.hold(session_id, timeout_s):
            pytest.fail("the lock was already held")
    return time.monotonic() - started


async def test_local_locks_let_one_turn_in_at_a_time() -> None:
    assert await _max_concurrency([LocalSessionLocks()], "sess_a", turns=8) == 1


async def test_local_locks_give_up_with_session_busy_after_the_timeout() -> None:
    locks = LocalSessionLocks()
    async with locks.hold("sess_a", 1):
        waited = await _busy_after(locks, "sess_a", 0.05)
        async with locks.hold("sess_b", 0.05):  # another session is not blocked
            pass
    async with locks.hold("sess_a", 0.05):  # released
        pass
    assert waited >= 0.05


async def test_local_locks_forget_sessions_nobody_holds_or_awaits() -> None:
    locks = LocalSessionLocks()
    holder_inside = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("sess_a", 1):
            holder_inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(holder())
    await holder_inside.wait()
    await _busy_after(locks, "sess_a", 0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _max_concurrency([locks], "sess_b", turns=3)

    assert locks._entries == {}  # no entry per session ever seen


async def test_a_turn_arriving_as_the_lock_is_handed_on_waits_behind_the_waiter() -> None:
    """The moment a holder lets go, the lock is free but promised to its first waiter: a
    turn arriving then queues behind it (and keeps its timeout), never slips in beside it."""
    locks = LocalSessionLocks()
    order: list[str] = []
    release = await locks.acquire("sess_a", 1)

    async def turn(name: str, timeout_s: float) -> None:
        async with locks.hold("sess_a", timeout_s):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    waiter = asyncio.create_task(turn("waiter", 1))
    await asyncio.sleep(0)  # the waiter is queued on the lock
    release()
    latecomer = asyncio.create_task(turn("latecomer", 1))
    await asyncio.gather(waiter, latecomer)
    assert order == ["waiter in", "waiter out", "latecomer in", "latecomer out"]

    release = await locks.acquire("sess_a", 1)
    waiter = asyncio.create_task(turn("waiter", 1))
    await asyncio.sleep(0)
    release()
    with pytest.raises(SessionBusy):  # still bounded by its timeout while it queues
        await turn("latecomer", 0.001)
    await waiter
    assert locks._entries == {}


def test_the_advisory_key_is_the_same_in_every_process() -> None:
    assert advisory_key("sess_0123456789abcdef0123456789abcdef") == -599719727266108442
    assert -(2**63) <= advisory_key("x") < 2**63


async def _opened(url: str, pool_size: int = 4) -> PostgresDatabase:
    database = database_for(url, pool_size=pool_size)
    assert isinstance(database, PostgresDatabase)
    await database.open()
    return database


@pytest.fixture
async def two_processes(
    postgres_url: str,
) -> AsyncIterator[tuple[PostgresDatabase, PostgresDatabase]]:
    """Two raw databases (pools) share nothing but the database, as two processes would."""
    first, second = await _opened(postgres_url), await _opened(postgres_url)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


@pytest.fixture
def locks_of(
    two_processes: tuple[PostgresDatabase, PostgresDatabase],
) -> tuple[LeaseSessionLocks, LeaseSessionLocks]:
    here, there = (
        LeaseSessionLocks(database.scalar, database.FAILURES) for database in two_processes
    )
    return here, there


async def _leases_held(url: str) -> object:
    return await execute_sql(url, "SELECT count(*) FROM session_leases")


async def _store_session(database: PostgresDatabase, session_id: str) -> None:
    """A session stored by a unit of work that only writes: a commit of one statement."""
    now = datetime.now(UTC)
    async with SqlUnitOfWorkFactory(database)() as uow:
        await uow.sessions.add(Session(id=session_id, created_at=now, updated_at=now))
        await uow.commit()


async def _transaction_commit_refused(database: PostgresDatabase) -> None:
    """A commit by a transaction of ``database`` fails with ``SessionBusy``, rolled back."""
    transaction = await database.begin()
    try:
        with pytest.raises(SessionBusy):
            await transaction.commit()
    finally:
        await transaction.rollback()


async def test_postgres_locks_exclude_each_other_across_processes(
    locks_of: tuple[LeaseSessionLocks, LeaseSessionLocks],
) -> None:
    lockers: list[SessionLocks] = list(locks_of)

    assert await _max_concurrency(lockers, "sess_a", turns=8) == 1


async def test_postgres_locks_give_up_with_session_busy_after_the_timeout(
    locks_of: tuple[LeaseSessionLocks, LeaseSessionLocks], postgres_url: str
) -> None:
    here, there = locks_of
    async with here.hold("sess_a", 1):
        waited = await _busy_after(there, "sess_a", 0.1)
        async with there.hold("sess_b", 0.1):
            assert await _leases_held(postgres_url) == 2
    async with there.hold("sess_a", 0.1):
        pass

    assert waited >= 0.1
    await asyncio.gather(here.aclose(), there.aclose())  # the releases under way
    assert await _leases_held(postgres_url) == 0


async def test_a_waiting_turn_gets_in_when_the_holder_leaves(
    locks_of: tuple[LeaseSessionLocks, LeaseSessionLocks],
) -> None:
    here, there = locks_of
    order: list[str] = []

    async def second() -> None:
        async with there.hold("sess_a", 5):
            order.append("second")

    async with here.hold("sess_a", 1):
        waiter = asyncio.create_task(second())
        await asyncio.sleep(0.1)
        order.append("first leaves")
    await waiter

    assert order == ["first leaves", "second"]


async def test_held_locks_keep_no_connection_checked_out(postgres_url: str) -> None:
    """Many sessions held at once by one process fit in a pool of two connections."""
    database = await _opened(postgres_url, pool_size=2)
    locks = LeaseSessionLocks(database.scalar, database.FAILURES)
    all_inside = asyncio.Event()
    inside = 0

    async def turn(session_id: str) -> None:
        nonlocal inside
        async with locks.hold(session_id, timeout_s=10):
            inside += 1
            if inside == 30:
                all_inside.set()
            await all_inside.wait()

    try:
        await asyncio.wait_for(asyncio.gather(*(turn(f"sess_{i}") for i in range(30))), 20)
        await locks.aclose()  # the leases given back after the turns
        pool = database._connections()
        assert pool.get_size() - pool.get_idle_size() == 0  # none checked out
    finally:
        await database.aclose()
    assert await _leases_held(postgres_url) == 0


async def test_a_holder_whose_lease_was_taken_over_cannot_commit(
    two_processes: tuple[PostgresDatabase, PostgresDatabase], postgres_url: str
) -> None:
    """Fencing: the stale holder's commit fails, the new holder's commit goes through."""
    stale_database, fresh_database = two_processes
    stale, fresh = (LeaseSessionLocks(d.scalar, d.FAILURES) for d in two_processes)
    stale_inside, fresh_done = asyncio.Event(), asyncio.Event()

    async def stale_turn() -> None:
        async with stale.hold("sess_a", 1):
            # As if the holder had been frozen past its lease's expiry.
            await execute_sql(postgres_url, EXPIRE_ALL)
            stale_inside.set()
            await fresh_done.wait()
            await _transaction_commit_refused(stale_database)

    async def fresh_turn() -> None:
        await stale_inside.wait()
        async with fresh.hold("sess_a", 5):
            transaction = await fresh_database.begin()
            await transaction.commit()
        fresh_done.set()

    await asyncio.wait_for(asyncio.gather(stale_turn(), fresh_turn()), 10)
    await asyncio.gather(stale.aclose(), fresh.aclose())
    assert await _leases_held(postgres_url) == 0


async def test_a_stale_holders_one_statement_commit_stores_nothing(
    two_processes: tuple[PostgresDatabase, PostgresDatabase], postgres_url: str
) -> None:
    """Fencing on the commit that is one statement (a unit of work that only wrote): the
    stale holder's writes fail as a whole with ``SessionBusy``; the new holder's go in."""
    stale_database, fresh_database = two_processes
    stale, fresh = (LeaseSessionLocks(d.scalar, d.FAILURES) for d in two_processes)
    stale_inside, fresh_done = asyncio.Event(), asyncio.Event()

    async def stale_turn() -> None:
        async with stale.hold("sess_a", 1):
            await execute_sql(postgres_url, EXPIRE_ALL)
            stale_inside.set()
            await fresh_done.wait()
            with pytest.raises(SessionBusy):
                await _store_session(stale_database, "sess_stale")

    async def fresh_turn() -> None:
        await stale_inside.wait()
        async with fresh.hold("sess_a", 5):
            await _store_session(fresh_database, "sess_fresh")
        fresh_done.set()

    await asyncio.wait_for(asyncio.gather(stale_turn(), fresh_turn()), 10)
    stored = "SELECT string_agg(id, ',' ORDER BY id) FROM sessions"
    assert await execute_sql(postgres_url, stored) == "sess_fresh"
    await asyncio.gather(stale.aclose(), fresh.aclose())
    assert await _leases_held(postgres_url) == 0


EXPIRE_ALL = "UPDATE session_leases SET expires_at = now() - interval '1 second'"


async def test_a_running_turn_renews_its_lease_past_the_ttl(
    two_processes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    here, there = (LeaseSessionLocks(d.scalar, d.FAILURES, ttl_s=0.3) for d in two_processes)
    async with here.hold("sess_a", 1):
        await asyncio.sleep(1.0)  # more than three lifetimes
        await _busy_after(there, "sess_a", 0.1)


async def test_cancelled_turns_release_the_lease(
    locks_of: tuple[LeaseSessionLocks, LeaseSessionLocks], postgres_url: str
) -> None:
    here, there = locks_of
    inside = asyncio.Event()

    async def holder() -> None:
        async with here.hold("sess_a", 1):
            inside.set()
            await asyncio.sleep(10)

    async def waiter() -> None:
        async with there.hold("sess_a", 10):
            pytest.fail("the holder never left")

    holding = asyncio.create_task(holder())
    await inside.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.05)
    for task in (waiting, holding):
        task.cancel()
    results = await asyncio.gather(waiting, holding, return_exceptions=True)

    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await here.aclose()  # the holder's lease, given back after it was cancelled
    assert await _leases_held(postgres_url) == 0
    async with there.hold("sess_a", 0.1):
        pass


async def test_a_crashed_holders_lease_expires(
    two_processes: tuple[PostgresDatabase, PostgresDatabase], postgres_url: str
) -> None:
    await execute_sql(
        postgres_url,
        "INSERT INTO session_leases VALUES ('sess_a', 'dead', now() + interval '300 ms')",
    )
    locks = LeaseSessionLocks(two_processes[0].scalar, two_processes[0].FAILURES)
    started = time.monotonic()
    async with locks.hold("sess_a", 5):
        waited = time.monotonic() - started
    assert 0.2 <= waited < 3


async def test_locks_are_chosen_by_database(
    two_processes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    sqlite = database_for("sqlite+aiosqlite:///unused.db")
    assert isinstance(session_locks_for(sqlite), LocalSessionLocks)
    postgres = session_locks_for(two_processes[0])
    assert isinstance(postgres, LeaseSessionLocks)
    await postgres.aclose()


async def test_a_turn_leaves_before_its_lease_is_given_back_and_the_next_waits_for_it(
    two_processes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """The release is the round trip after a committed turn: the turn does not wait for it,
    but the same process's next turn of the session starts only once the row is gone."""
    database = two_processes[0]
    executed: list[str] = []
    release_may_finish = asyncio.Event()

    async def scalar(statement: sa.TextClause, values: Mapping[str, object]) -> object:
        if str(statement).startswith("DELETE"):
            await release_may_finish.wait()
            executed.append("released")
        else:
            executed.append(str(statement).split()[0].lower())
        return await database.scalar(statement, values)

    locks = LeaseSessionLocks(scalar, database.FAILURES)

    async def first_turn() -> None:
        async with locks.hold("sess_a", 1):
            pass

    await asyncio.wait_for(first_turn(), 1)  # not held up by the release
    executed.append("first turn left")

    async def next_turn() -> None:
        async with locks.hold("sess_a", 5):
            executed.append("second turn in")

    second = asyncio.create_task(next_turn())
    await asyncio.sleep(0.1)
    assert not second.done()  # queued behind the release still under way
    release_may_finish.set()
    await asyncio.wait_for(second, 5)
    await locks.aclose()

    assert executed == [
        "insert",
        "first turn left",
        "released",
        "insert",
        "second turn in",
        "released",
    ]


WAL_SYNCS = "SELECT wal_sync FROM pg_stat_wal"  # fsyncs of the WAL, server-wide


async def _wal_syncs_during(url: str, work: Callable[[PostgresDatabase], Awaitable[None]]) -> int:
    """The WAL fsyncs the server made while ``work`` ran on a pool of its own; the pool is
    closed before counting, since a connection reports its statistics when it ends."""
    before = int(str(await execute_sql(url, WAL_SYNCS)))
    database = await _opened(url)
    try:
        await work(database)
    finally:
        await database.aclose()
    return int(str(await execute_sql(url, WAL_SYNCS))) - before


async def test_leases_do_not_wait_for_the_wal_flush_and_commits_still_do(
    postgres_url: str,
) -> None:
    """A lease is taken and given back without an fsync each (on the way of every turn), while
    a turn's commit, which proves and ends the lease in its own statement, still waits for its
    flush."""
    holds = 200

    async def hold_and_leave(database: PostgresDatabase) -> None:
        locks = LeaseSessionLocks(database.scalar, database.FAILURES)
        for i in range(holds):
            async with locks.hold(f"sess_{i}", 5):
                pass
            await locks.aclose()  # given back before the next is taken: sequential writes

    async def commit_while_holding(database: PostgresDatabase) -> None:
        locks = LeaseSessionLocks(database.scalar, database.FAILURES)
        for i in range(100):
            async with locks.hold(f"sess_{i}", 5):
                await _store_session(database, f"sess_{i}")
            await locks.aclose()

    lease_syncs = await _wal_syncs_during(postgres_url, hold_and_leave)
    commit_syncs = await _wal_syncs_during(postgres_url, commit_while_holding)

    assert lease_syncs < holds // 2  # 2 x holds when each write waited for its own fsync
    assert commit_syncs >= 90  # one flush per commit, made one after the other
    assert await execute_sql(postgres_url, "SELECT count(*) FROM sessions") == 100
    assert await _leases_held(postgres_url) == 0


async def test_a_turns_commit_ends_its_lease_and_the_turn_leaves_without_a_round_trip(
    two_processes: tuple[PostgresDatabase, PostgresDatabase], postgres_url: str
) -> None:
    """The commit deletes the lease row in its own statement: another process's turn of the
    session gets in once the commit is made, and the turn gives nothing back when it leaves."""
    database, other = two_processes
    statements: list[str] = []

    async def scalar(statement: sa.TextClause, values: Mapping[str, object]) -> object:
        statements.append(str(statement).split()[0].lower())
        return await database.scalar(statement, values)

    here = LeaseSessionLocks(scalar, database.FAILURES)
    there = LeaseSessionLocks(other.scalar, other.FAILURES)
    async with here.hold("sess_a", 1):
        assert await _leases_held(postgres_url) == 1
        await _store_session(database, "sess_a")
        assert await _leases_held(postgres_url) == 0
        async with there.hold("sess_a", 0.5):  # not SessionBusy: the lease is free
            pass
    await asyncio.gather(here.aclose(), there.aclose())

    assert statements == ["insert"]  # taken, and never given back by a statement of its own
    assert await execute_sql(postgres_url, "SELECT count(*) FROM sessions") == 1


async def test_a_second_commit_under_one_hold_stores_nothing(
    two_processes: tuple[PostgresDatabase, PostgresDatabase], postgres_url: str
) -> None:
    """The first commit ended the lease, so a second one is a holder's without a lease:
    ``SessionBusy``, as a stale holder's, whichever way it commits."""
    database = two_processes[0]
    locks = LeaseSessionLocks(database.scalar, database.FAILURES)
    async with locks.hold("sess_a", 1):
        await _store_session(database, "sess_a")
        with pytest.raises(SessionBusy):
            await _store_session(database, "sess_b")
        await _transaction_commit_refused(database)
    await locks.aclose()

    stored = "SELECT string_agg(id, ',' ORDER BY id) FROM sessions"
    assert await execute_sql(postgres_url, stored) == "sess_a"
    assert await _leases_held(postgres_url) == 0


async def test_a_transactions_commit_ends_the_lease_and_a_rolled_back_one_does_not(
    two_processes: tuple[PostgresDatabase, PostgresDatabase], postgres_url: str
) -> None:
    database, other = two_processes
    locks = LeaseSessionLocks(database.scalar, database.FAILURES)
    there = LeaseSessionLocks(other.scalar, other.FAILURES)
    async with locks.hold("sess_a", 1):
        transaction = await database.begin()
        await transaction.rollback()
        await _busy_after(there, "sess_a", 0.05)  # still held
        transaction = await database.begin()
        await transaction.commit()
        assert await _leases_held(postgres_url) == 0
    await asyncio.gather(locks.aclose(), there.aclose())
