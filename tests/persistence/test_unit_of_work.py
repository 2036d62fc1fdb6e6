"""A unit of work is one transaction: all of a turn's writes, or none of them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.errors import IdempotencyConflict
from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.migrate import upgrade_database
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
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


async def test_a_turn_is_written_in_one_statement_per_table_without_reading(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    session = a_session()
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.commit()
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]).split()[0].upper())

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with uow_factory() as uow:
            await uow.sessions.update(replace(session, message_count=2))
            await uow.messages.add_many([a_message(session, 1), a_message(session, 2)])
            await uow.summaries.add(a_summary(session, 1))
            for kind in ("summary", "turn"):
                await uow.calls.add(a_call(session.id, kind=kind))
            await uow.idempotency.add("default", "key-1", "fp", session.id, {})
            await uow.commit()
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)

    # session, messages, summary, calls, idempotency key, then the calls' running totals
    assert statements == ["UPDATE", "INSERT", "INSERT", "INSERT", "INSERT", "INSERT"]


async def test_sqlite_writers_of_one_process_queue_instead_of_failing(tmp_path: Path) -> None:
    """The second writer waits in the event loop for the first to commit, then succeeds,
    however long the first takes: longer here than SQLite's own busy handler would wait."""
    url = f"sqlite+aiosqlite:///{tmp_path}/queue.db"
    await upgrade_database(url)
    engine = create_engine(url, sqlite_busy_timeout_ms=100)
    uow = SqlUnitOfWorkFactory(engine)
    try:
        first, second = a_session(), a_session()
        async with uow() as writer:
            await writer.sessions.add(first)
            await writer.sessions.count("default", None)  # sends the insert: holds the lock

            async def later_writer() -> None:
                async with uow() as other:
                    await other.sessions.add(second)
                    await other.commit()

            waiting = asyncio.create_task(later_writer())
            await asyncio.sleep(0.5)
            assert not waiting.done(), "a second writer must wait for the first"
            await writer.commit()
        await asyncio.wait_for(waiting, 5)
        async with uow() as reader:
            assert await reader.sessions.count("default", None) == 2
    finally:
        await engine.dispose()
