"""The real SessionManager on the real databases: concurrent turns and summarization."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

from src.domain.memory import MemoryPolicy
from src.domain.ports import Ports
from src.domain.pricing import ModelPrice
from src.domain.session_manager import SessionManager
from src.domain.turns import TurnCommand
from src.infrastructure.persistence.databases import session_locks_for
from src.infrastructure.persistence.postgres_raw import PostgresDatabase
from src.infrastructure.persistence.sqlite_raw import SqliteDatabase
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.domain import FakeClock, FakeDirectory, FakeProvider, FixedPrices


@contextlib.asynccontextmanager
async def _manager(
    database: SqliteDatabase | PostgresDatabase,
    uow_factory: SqlUnitOfWorkFactory,
    policy: MemoryPolicy,
) -> AsyncIterator[SessionManager]:
    """Echo replies after a short pause, so that concurrent turns really overlap."""
    provider = FakeProvider()
    provider.delay_s = 0.01
    price = ModelPrice(input=Decimal("0.15"), cached_input=Decimal("0.075"), output=Decimal("0.6"))
    locks = session_locks_for(database)
    try:
        yield SessionManager(
            Ports(
                uow=uow_factory,
                providers=FakeDirectory(provider),
                prices=FixedPrices({("fake", "fake-1"): price}),
                locks=locks,
                clock=FakeClock(),
            ),
            policy,
        )
    finally:
        await locks.aclose()


async def test_concurrent_turns_on_one_session_store_each_reply_after_its_question(
    database: SqliteDatabase | PostgresDatabase, uow_factory: SqlUnitOfWorkFactory
) -> None:
    async with _manager(
        database, uow_factory, MemoryPolicy(summarization_threshold=1000)
    ) as manager:
        session = await manager.create_session(user_id="user_123")

        await asyncio.gather(
            *(
                manager.run_turn(TurnCommand(f"question {i}", session_id=session.id))
                for i in range(20)
            )
        )

        history = await manager.history(session.id, limit=100, offset=0)
        messages = history.messages
        assert [m.seq for m in messages] == list(range(1, 41))
        for question, reply in zip(messages[::2], messages[1::2], strict=True):
            assert question.role == "user"
            assert reply.role == "assistant"
            assert reply.content == f"reply to: {question.content}"
        assert {m.content for m in messages[::2]} == {f"question {i}" for i in range(20)}
        assert (await manager.get_session(session.id)).message_count == 40


async def test_the_eleventh_turn_folds_the_oldest_messages_into_a_summary(
    database: SqliteDatabase | PostgresDatabase, uow_factory: SqlUnitOfWorkFactory
) -> None:
    async with _manager(database, uow_factory, MemoryPolicy()) as manager:
        session = await manager.create_session()

        results = [
            await manager.run_turn(TurnCommand(f"question {i}", session_id=session.id))
            for i in range(11)
        ]

        async with uow_factory() as uow:
            summaries = await uow.summaries.all(session.id)
            totals = await uow.calls.totals(session.id)
        stored = await manager.get_session(session.id)
        assert [r.was_summarized for r in results] == [False] * 10 + [True]
        assert [(s.version, s.from_seq, s.to_seq) for s in summaries] == [(1, 1, 14)]
        assert (stored.summary, stored.summary_through_seq, stored.message_count) == (
            "short summary",
            14,
            22,
        )
        assert {(t.kind, t.calls) for t in totals} == {("turn", 11), ("summary", 1)}
