"""A unit of work is one transaction: all of a turn's writes, or none of them."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from src.domain.entities import Session
from src.domain.errors import IdempotencyConflict
from src.infrastructure.persistence.databases import database_for
from src.infrastructure.persistence.migrate import upgrade_database
from src.infrastructure.persistence.sqlite_raw import CHECKPOINT_INTERVAL_S, SqliteDatabase
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from tests.persistence.builders import a_call, a_message, a_session, a_summary


async def test_leaving_without_commit_stores_nothing(uow_factory: SqlUnitOfWorkFactory) -> None:
    session = a_session()
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.messages.add_many([a_message(session, 1)])

    async with uow_factory() as uow:
        assert await uow.sessions.get(session.id, session.owner) is None
        assert await uow.sessions.count(session.owner, None) == 0


async def test_an_error_inside_the_block_rolls_back_what_was_already_sent(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    session = a_session()

    async def fail_after_sending() -> None:
        async with uow_factory() as uow:
            await uow.sessions.add(session)
            assert await uow.sessions.count(session.owner, None) == 1  # sent, not committed
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_after_sending()

    async with uow_factory() as uow:
        assert await uow.sessions.count(session.owner, None) == 0


async def test_a_reused_idempotency_key_fails_the_commit_and_stores_nothing_of_it(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    session = a_session()
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.idempotency.add("default", "key-1", "first", session.id, {"n": 1})
        await uow.commit()

    async def second_turn_with_the_same_key() -> None:
        async with uow_factory() as uow:
            await uow.sessions.update(replace(session, message_count=2))
            await uow.messages.add_many([a_message(session, 1), a_message(session, 2)])
            await uow.calls.add(a_call(session.id))
            await uow.idempotency.add("default", "key-1", "second", session.id, {"n": 2})
            await uow.commit()

    with pytest.raises(IdempotencyConflict) as raised:
        await second_turn_with_the_same_key()

    async with uow_factory() as uow:
        stored = await uow.sessions.get(session.id, session.owner)
        messages = await uow.messages.page(session.id, 10, 0)
        totals = await uow.calls.totals(None)
        key = await uow.idempotency.get("default", "key-1")
    assert raised.value.details == {"idempotency_key": "key-1"}
    assert stored == session
    assert (list(messages), list(totals)) == ([], [])
    assert key == ("first", {"n": 1})


async def test_the_same_key_of_another_owner_is_no_conflict(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    session = a_session()
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.idempotency.add("default", "key-1", "fp", session.id, {})
        await uow.idempotency.add("tenant-b", "key-1", "fp", session.id, {})
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.idempotency.get("tenant-b", "key-1") == ("fp", {})


async def test_a_turn_is_written_without_reading_in_one_transaction(
    database_url: str, backend: str
) -> None:
    """SQLite: one statement per table (rows of one table together) and one COMMIT on the
    writer; PostgreSQL: the whole turn in a single statement, so a single round trip."""
    traced: list[str] = []
    database = database_for(database_url, pool_size=1, trace=traced.append)
    await database.open()
    uow_factory = SqlUnitOfWorkFactory(database)
    try:
        first, session = a_session(), a_session()

        async def turn(session: Session) -> None:
            async with uow_factory() as uow:
                await uow.sessions.add(session)
                await uow.commit()
            traced.clear()  # from here on, only the turn's writes
            async with uow_factory() as uow:
                await uow.sessions.update(replace(session, message_count=2))
                await uow.messages.add_many([a_message(session, 1), a_message(session, 2)])
                await uow.summaries.add(a_summary(session, 1))
                for kind in ("summary", "turn"):
                    await uow.calls.add(a_call(session.id, kind=kind))
                await uow.idempotency.add("default", f"key-{session.id}", "fp", session.id, {})
                await uow.commit()

        await turn(first)  # the driver looks its types up on first use of a statement
        await turn(session)
        written = list(traced)
        async with uow_factory() as uow:
            stored = await uow.messages.page(session.id, 10, 0)
            totals = await uow.calls.totals(session.id)
    finally:
        await database.aclose()

    assert [m.seq for m in stored] == [1, 2]
    assert sum(t.calls for t in totals) == 2
    verbs = [statement.split()[0].upper() for statement in written]
    if backend == "sqlite":
        # Each row is traced, and the key-spend trigger's run on each call row traces its
        # statement again: one transaction, no read.
        assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT" and verbs[1] == "UPDATE"
        assert set(verbs[2:-1]) == {"INSERT"} and len(verbs[2:-1]) >= 6
    else:
        assert verbs == ["WITH"]


async def _hold_the_writer(uow: SqlUnitOfWork) -> None:
    """Opens ``uow``'s own transaction (a delete reports what it deleted)."""
    assert not await uow.sessions.delete("sess_missing", "default")


async def test_sqlite_commits_queued_meanwhile_share_one_group_commit(tmp_path: Path) -> None:
    """Commits wait for the writer however long it is held (longer here than SQLite's own
    busy handler would wait), then go in one transaction; a reused idempotency key fails
    only its own unit of work, in a savepoint of that transaction."""
    url = f"sqlite+aiosqlite:///{tmp_path}/group.db"
    await upgrade_database(url)
    traced: list[str] = []
    database = SqliteDatabase(str(tmp_path / "group.db"), busy_timeout_ms=100, trace=traced.append)
    await database.open()
    uow_factory = SqlUnitOfWorkFactory(database)
    try:
        taken = a_session()
        async with uow_factory() as uow:
            await uow.sessions.add(taken)
            await uow.idempotency.add("default", "key-1", "first", taken.id, {})
            await uow.commit()
        sessions = [a_session() for _ in range(5)]

        async def store(session: Session, key: str) -> None:
            async with uow_factory() as uow:
                await uow.sessions.add(session)
                await uow.messages.add_many([a_message(session, 1)])
                await uow.idempotency.add("default", key, "fp", session.id, {})
                await uow.commit()

        async with uow_factory() as holder:
            await _hold_the_writer(holder)
            traced.clear()
            waiting = [
                asyncio.create_task(store(s, "key-1" if i == 2 else f"key-{i + 10}"))
                for i, s in enumerate(sessions)
            ]
            await asyncio.sleep(0.5)
            assert not any(task.done() for task in waiting), "writers must wait for the first"
            await holder.commit()
        outcomes = await asyncio.wait_for(
            asyncio.gather(*waiting, return_exceptions=True), timeout=5
        )
        async with uow_factory() as uow:
            stored = [await uow.sessions.get(s.id, s.owner) for s in sessions]
            messages = [len(await uow.messages.page(s.id, 10, 0)) for s in sessions]
    finally:
        await database.aclose()

    assert isinstance(outcomes[2], IdempotencyConflict)
    assert [o for i, o in enumerate(outcomes) if i != 2] == [None] * 4
    assert [s is not None for s in stored] == [True, True, False, True, True]
    assert messages == [1, 1, 0, 1, 1]
    assert [s for s in traced if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "COMMIT",  # the holder's
        "BEGIN IMMEDIATE",
        "COMMIT",  # all five queued commits, together
    ]


async def test_a_value_the_driver_refuses_fails_its_commit_and_the_next_still_succeeds(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    """The error reaches the caller; the writer (SQLite's thread, PostgreSQL's pool) goes on."""
    session, later = a_session(), a_session()

    async def store(session: Session, count: int) -> None:
        async with uow_factory() as uow:
            await uow.sessions.add(replace(session, message_count=count))
            await uow.commit()

    # sqlite3 refuses it when binding; asyncpg when encoding the argument.
    with pytest.raises((OverflowError, asyncpg.DataError)):
        await store(session, 2**70)
    await store(later, 2)

    async with uow_factory() as uow:
        assert await uow.sessions.get(session.id, session.owner) is None
        stored = await uow.sessions.get(later.id, later.owner)
    assert stored is not None
    assert stored.message_count == 2


async def test_sqlite_copies_committed_turns_into_the_database_file_behind_the_commits(
    tmp_path: Path,
) -> None:
    """No COMMIT checkpoints the WAL (it used to, once the WAL passed 1,000 pages, making that
    turn wait): a thread of the database does it shortly after commits, so the file itself
    catches up while the process runs, long before the WAL would have reached that size."""
    url = f"sqlite+aiosqlite:///{tmp_path}/wal.db"
    await upgrade_database(url)
    database = SqliteDatabase(str(tmp_path / "wal.db"))
    await database.open()
    uow_factory = SqlUnitOfWorkFactory(database)
    sessions = [a_session() for _ in range(40)]
    try:
        for session in sessions:
            async with uow_factory() as uow:
                await uow.sessions.add(session)
                await uow.messages.add_many([a_message(session, 1), a_message(session, 2)])
                await uow.commit()
        in_file = 0
        for _ in range(round(5 / CHECKPOINT_INTERVAL_S)):  # a few intervals, five seconds at most
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            in_file = _messages_in_the_file_alone(tmp_path / "wal.db", tmp_path / "copy.db")
            if in_file == 2 * len(sessions):
                break
    finally:
        await database.aclose()

    assert in_file == 2 * len(sessions)


def _messages_in_the_file_alone(path: Path, copy_path: Path) -> int:
    """The messages a copy of the database file holds without its WAL: what checkpoints have
    copied into it (0 while a checkpoint is caught half-way through writing it)."""
    shutil.copyfile(path, copy_path)
    copy = sqlite3.connect(copy_path)
    try:
        (stored,) = copy.execute("SELECT count(*) FROM messages").fetchone()
    except sqlite3.DatabaseError:
        return 0
    finally:
        copy.close()
    return int(stored)
