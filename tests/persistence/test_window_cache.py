"""Windows kept between turns (``window_cache``): used only while the session row proves them
true, extended only by commits that succeeded, bounded in size; on both databases."""

from __future__ import annotations

from dataclasses import replace

from src.domain.entities import Message, Session
from src.infrastructure.persistence.postgres_raw import PostgresDatabase
from src.infrastructure.persistence.sqlite_raw import SqliteDatabase
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from src.infrastructure.persistence.window_cache import PER_MESSAGE_BYTES, WindowCache
from tests.persistence.builders import a_message, a_session


async def _turn(uow_factory: SqlUnitOfWorkFactory, session: Session, count: int) -> Session:
    """``count`` more messages and the session row that says so, in one commit."""
    first = session.message_count + 1
    added = [a_message(session, seq) for seq in range(first, first + count)]
    session = replace(session, message_count=session.message_count + count)
    async with uow_factory() as uow:
        await uow.sessions.update(session)
        await uow.messages.add_many(added)
        await uow.commit()
    return session


async def _window(uow_factory: SqlUnitOfWorkFactory, session_id: str) -> list[str]:
    """A turn's read: the session row, then its window as of that row."""
    async with uow_factory() as uow:
        found = await uow.sessions.get(session_id, None)
        assert found is not None
        window = await uow.messages.tail(
            found.id, found.summary_through_seq, 50, found.message_count
        )
    return [m.content for m in window]


def _contents(last: int) -> list[str]:
    return [f"message {seq}" for seq in range(1, last + 1)]


async def _first_turn_read(uow_factory: SqlUnitOfWorkFactory) -> Session:
    """A new session, its first turn (two messages) committed, then its window read."""
    session = a_session()
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.commit()
    session = await _turn(uow_factory, session, 2)
    assert await _window(uow_factory, session.id) == _contents(2)
    return session


async def test_a_replica_that_missed_turns_reads_the_window_again(
    database: SqliteDatabase | PostgresDatabase,
) -> None:
    """Two processes on one database, each with its own cache: what one wrote, the other
    sees at its next read, because the session row it reads says its run is stale."""
    here = SqlUnitOfWorkFactory(database, WindowCache(1_000_000, keep=50))
    there = SqlUnitOfWorkFactory(database, WindowCache(1_000_000, keep=50))
    session = await _first_turn_read(here)

    session = await _turn(there, session, 2)
    assert await _window(here, session.id) == _contents(4)
    session = await _turn(here, session, 2)
    assert await _window(there, session.id) == _contents(6)


async def test_a_commit_extends_the_kept_window_and_a_failed_one_does_not(
    uow_factory: SqlUnitOfWorkFactory, windows: WindowCache
) -> None:
    session = await _first_turn_read(uow_factory)

    session = await _turn(uow_factory, session, 2)
    kept = windows.window(session.id, 0, 50, newest_seq=4)
    assert kept is not None and [m.seq for m in kept] == [1, 2, 3, 4]  # without a read

    async with uow_factory() as uow:  # left without committing: rolled back
        await uow.messages.add_many([a_message(session, 5)])
    assert windows.window(session.id, 0, 50, newest_seq=5) is None
    assert await _window(uow_factory, session.id) == _contents(4)


async def test_a_deleted_sessions_window_is_dropped_with_the_delete(
    uow_factory: SqlUnitOfWorkFactory, windows: WindowCache
) -> None:
    session = await _first_turn_read(uow_factory)
    async with uow_factory() as uow:
        assert await uow.sessions.delete(session.id, None)
        await uow.commit()

    assert windows.window(session.id, 0, 50, newest_seq=2) is None
    assert windows.size_bytes == 0


def _messages(session: Session, first: int, last: int, content: str = "") -> list[Message]:
    return [a_message(session, seq, content=content or f"m{seq}") for seq in range(first, last + 1)]


def test_a_kept_window_serves_only_the_range_it_covers() -> None:
    session = a_session()
    cache = WindowCache(1_000_000, keep=4)
    cache.remember(session.id, _messages(session, 3, 6), after_seq=2, limit=4, newest_seq=6)

    def seqs(after: int, limit: int, newest: int) -> list[int] | None:
        found = cache.window(session.id, after, limit, newest)
        return None if found is None else [m.seq for m in found]

    assert seqs(2, 4, 6) == [3, 4, 5, 6]
    assert seqs(4, 50, 6) == [5, 6]  # after a summary moved the cut-off
    assert seqs(0, 2, 6) == [5, 6]
    assert seqs(0, 50, 6) is None  # older messages than the run holds
    assert seqs(2, 4, 7) is None  # a message it has not seen


def test_the_budget_bounds_the_cache_least_recently_used_first() -> None:
    first, second, third = a_session(), a_session(), a_session()
    one_run = 2 * (PER_MESSAGE_BYTES + 10)
    cache = WindowCache(budget_bytes=2 * one_run, keep=50)
    for session in (first, second):
        cache.extend(session.id, _messages(session, 1, 2, content="x" * 10))
    assert cache.window(first.id, 0, 50, 2) is not None  # first is now the most recent

    cache.extend(third.id, _messages(third, 1, 2, content="x" * 10))

    assert cache.window(second.id, 0, 50, 2) is None
    assert cache.window(first.id, 0, 50, 2) is not None
    assert cache.window(third.id, 0, 50, 2) is not None
    assert cache.size_bytes == 2 * one_run
    huge = a_session()
    cache.extend(huge.id, _messages(huge, 1, 1, content="x" * 3 * one_run))
    assert cache.window(huge.id, 0, 50, 1) is None  # larger than the whole budget


def test_messages_that_do_not_follow_the_run_make_it_stale() -> None:
    session = a_session()
    cache = WindowCache(1_000_000, keep=50)
    cache.extend(session.id, _messages(session, 1, 2))
    cache.extend(session.id, _messages(session, 4, 5))  # 3 was written elsewhere

    assert cache.window(session.id, 0, 50, 5) is None
    assert cache.window(session.id, 0, 50, 2) is None


def test_a_moved_summary_cut_off_lets_go_of_what_it_folded() -> None:
    session = a_session()
    cache = WindowCache(1_000_000, keep=50)
    cache.extend(session.id, _messages(session, 1, 8))
    before = cache.size_bytes

    found = cache.window(session.id, 6, 50, 8)  # a summary now covers 1..6

    assert found is not None and [m.seq for m in found] == [7, 8]
    assert cache.size_bytes < before
    assert cache.window(session.id, 0, 50, 8) is None  # the folded messages are gone
    again = cache.window(session.id, 6, 50, 8)
    assert again is not None and [m.seq for m in again] == [7, 8]


def test_the_size_counted_is_that_of_the_messages_held_as_a_run_grows_and_is_trimmed() -> None:
    session = a_session()
    cache = WindowCache(1_000_000, keep=4)
    each = PER_MESSAGE_BYTES + len("abc")
    for first in range(1, 10, 2):  # five turns of two messages, four kept
        cache.extend(session.id, _messages(session, first, first + 1, content="abc"))
        assert cache.size_bytes == each * min(first + 1, 4)

    assert cache.window(session.id, 8, 4, 10) is not None  # a summary now covers 1..8
    assert cache.size_bytes == 2 * each


def test_a_cache_without_a_budget_keeps_nothing() -> None:
    session = a_session()
    cache = WindowCache(budget_bytes=0, keep=50)
    cache.extend(session.id, _messages(session, 1, 2))
    cache.remember(session.id, _messages(session, 1, 2), after_seq=0, limit=50, newest_seq=2)

    assert cache.window(session.id, 0, 50, 2) is None
    assert cache.size_bytes == 0
