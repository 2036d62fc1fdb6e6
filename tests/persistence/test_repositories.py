"""Every repository method round-trips the domain objects, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.entities import CallTotals, Session
from src.domain.llm import TokenUsage
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.builders import T0, a_call, a_message, a_session, a_summary


async def _store(uow_factory: SqlUnitOfWorkFactory, *sessions: Session) -> None:
    async with uow_factory() as uow:
        for session in sessions:
            await uow.sessions.add(session)
        await uow.commit()


async def test_a_session_comes_back_as_stored_with_aware_utc_times(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    paris = timezone(timedelta(hours=2))
    session = a_session(
        created_at=T0.astimezone(paris),
        updated_at=T0 + timedelta(seconds=1),
        user_id="user_123",
        metadata={"team": "search", "tags": ["a", "b"], "limits": {"daily": 5}},
        system_prompt="Answer briefly.",
    )
    await _store(uow_factory, session)

    async with uow_factory() as uow:
        loaded = await uow.sessions.get(session.id, session.owner)
        someone_elses = await uow.sessions.get(session.id, "another-owner")

    assert loaded == session
    assert loaded is not None
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.created_at.isoformat() == "2025-03-01T12:00:00.123456+00:00"
    assert loaded.updated_at.tzinfo is not None
    assert someone_elses is None


async def test_update_writes_every_mutable_field(uow_factory: SqlUnitOfWorkFactory) -> None:
    session = a_session()
    await _store(uow_factory, session)
    changed = replace(
        session,
        updated_at=T0 + timedelta(minutes=5),
        user_id="user_9",
        metadata={"k": "v"},
        system_prompt="New prompt.",
        status="closed",
        message_count=22,
        summary="They talked.",
        summary_through_seq=14,
        summary_version=2,
        live_tokens=321,
    )

    async with uow_factory() as uow:
        await uow.sessions.update(changed)
        await uow.commit()
    async with uow_factory() as uow:
        loaded = await uow.sessions.get(session.id, session.owner)

    assert loaded == changed


async def test_a_read_after_an_update_in_one_unit_of_work_sees_the_update(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    session = a_session()
    await _store(uow_factory, session)

    async with uow_factory() as uow:
        assert await uow.sessions.get(session.id, session.owner) == session
        await uow.sessions.update(replace(session, message_count=2))
        loaded = await uow.sessions.get(session.id, session.owner)

    assert loaded is not None
    assert loaded.message_count == 2


async def test_sessions_list_newest_first_filtered_by_user_and_paged(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    sessions = [
        a_session(created_at=T0 + timedelta(minutes=i), user_id="alice" if i % 2 else "bob")
        for i in range(6)
    ]
    await _store(uow_factory, *sessions, a_session(owner="tenant-b", user_id="alice"))
    newest_first = [s.id for s in reversed(sessions)]
    alices_newest_first = [s.id for s in reversed(sessions) if s.user_id == "alice"]

    async with uow_factory() as uow:
        page = await uow.sessions.list("default", None, 2, 1)
        alices = await uow.sessions.list("default", "alice", 10, 0)
        total = await uow.sessions.count("default", None)
        alice_total = await uow.sessions.count("default", "alice")
        beyond = await uow.sessions.list("default", None, 10, 6)

    assert [s.id for s in page] == newest_first[1:3]
    assert [s.id for s in alices] == alices_newest_first
    assert (total, alice_total) == (6, 3)
    assert beyond == []


async def test_stats_count_active_sessions_and_average_their_duration(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    await _store(
        uow_factory,
        a_session(updated_at=T0 + timedelta(seconds=10)),
        a_session(updated_at=T0 + timedelta(seconds=30), status="closed"),
        a_session(owner="tenant-b", updated_at=T0 + timedelta(seconds=80)),
    )

    async with uow_factory() as uow:
        mine = await uow.sessions.stats("default")
        everyone = await uow.sessions.stats(None)
        nobody = await uow.sessions.stats("tenant-without-sessions")

    assert (mine.active, mine.total) == (1, 2)
    assert abs(mine.avg_duration_s - 20.0) < 0.01
    assert (everyone.active, everyone.total) == (2, 3)
    assert abs(everyone.avg_duration_s - 40.0) < 0.01
    assert (nobody.active, nobody.total, nobody.avg_duration_s) == (0, 0, 0.0)


async def test_messages_round_trip_with_exact_costs(uow_factory: SqlUnitOfWorkFactory) -> None:
    session = a_session()
    question = a_message(session, 1, content="Explain AI simply")
    reply = a_message(
        session,
        2,
        content="It learns patterns.",
        provider="anthropic",
        model="claude-x",
        input_tokens=400,
        output_tokens=56,
        cost=Decimal("0.0000375"),
        reasoning_content="thinking...",
        interrupted=True,
    )
    unpriced = a_message(session, 3, role="assistant", provider="openai", model="new", cost=None)
    await _store(uow_factory, session)

    async with uow_factory() as uow:
        await uow.messages.add_many([question, reply, unpriced])
        await uow.commit()
    async with uow_factory() as uow:
        loaded = await uow.messages.page(session.id, 10, 0)

    assert list(loaded) == [question, reply, unpriced]
    assert loaded[1].cost == Decimal("0.0000375")
    assert loaded[2].cost is None
    assert loaded[0].created_at.utcoffset() == timedelta(0)


async def test_tail_between_and_page_order_and_limit(uow_factory: SqlUnitOfWorkFactory) -> None:
    session, other = a_session(), a_session()
    await _store(uow_factory, session, other)
    async with uow_factory() as uow:
        await uow.messages.add_many([a_message(session, seq) for seq in range(1, 9)])
        await uow.messages.add_many([a_message(other, seq) for seq in range(1, 4)])
        await uow.commit()

    async with uow_factory() as uow:
        tail = await uow.messages.tail(session.id, 0, 3, 8)
        tail_after_summary = await uow.messages.tail(session.id, 6, 50, 8)
        tail_as_of_five = await uow.messages.tail(session.id, 0, 3, 5)
        between = await uow.messages.between(session.id, 2, 4)
        page = await uow.messages.page(session.id, 3, 2)
        past_the_end = await uow.messages.page(session.id, 3, 8)

    assert [m.seq for m in tail] == [6, 7, 8]
    assert [m.seq for m in tail_after_summary] == [7, 8]
    assert [m.seq for m in tail_as_of_five] == [3, 4, 5]
    assert [m.seq for m in between] == [2, 3, 4]
    assert [m.seq for m in page] == [3, 4, 5]
    assert past_the_end == []
    assert {m.session_id for m in [*tail, *between, *page]} == {session.id}


async def test_summary_versions_come_back_oldest_first(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    session = a_session()
    await _store(uow_factory, session)
    second, first = a_summary(session, 2), a_summary(session, 1)
    async with uow_factory() as uow:
        await uow.summaries.add(second)
        await uow.summaries.add(first)
        await uow.commit()

    async with uow_factory() as uow:
        versions = await uow.summaries.all(session.id)

    assert list(versions) == [first, second]


async def test_call_totals_sum_exactly_per_provider_and_kind(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    session, other = a_session(), a_session()
    await _store(uow_factory, session, other)
    usage = TokenUsage(input_tokens=100, output_tokens=20, cached_input_tokens=40)
    calls = [
        *(a_call(session.id, usage=usage, latency_s=0.25) for _ in range(3)),
        a_call(session.id, usage=usage, cost=None, latency_s=0.25),
        a_call(session.id, usage=TokenUsage(), cost=Decimal(0), ok=False, error_code="Timeout"),
        a_call(session.id, kind="summary", provider="anthropic", cost=Decimal("0.5")),
        a_call(other.id, cost=Decimal("1")),
    ]
    async with uow_factory() as uow:
        for call in calls:
            await uow.calls.add(call)
        await uow.commit()

    async with uow_factory() as uow:
        of_session = await uow.calls.totals(session.id)
        of_everything = await uow.calls.totals(None)

    openai_turns = CallTotals(
        provider="openai",
        kind="turn",
        calls=5,
        failures=1,
        input_tokens=400,
        output_tokens=80,
        cached_input_tokens=160,
        cost=Decimal("0.0001125"),
        calls_with_unknown_cost=1,
        latency_s_sum=1.5,
    )
    anthropic_summaries = CallTotals(
        provider="anthropic",
        kind="summary",
        calls=1,
        input_tokens=100,
        output_tokens=20,
        cost=Decimal("0.5"),
        latency_s_sum=0.5,
    )
    assert list(of_session) == [anthropic_summaries, openai_turns]
    everything = {(t.provider, t.kind): t for t in of_everything}
    assert everything["openai", "turn"].calls == 6
    assert everything["openai", "turn"].cost == Decimal("1.0001125")
    assert str(everything["openai", "turn"].cost) == "1.0001125"


async def test_an_idempotency_key_keeps_its_fingerprint_and_reply(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    session = a_session()
    await _store(uow_factory, session)
    reply = {"response": "hi", "usage": {"input_tokens": 3}, "cost": "0.1", "tags": [1, None]}

    async with uow_factory() as uow:
        missing = await uow.idempotency.get("default", "key-1")
        await uow.idempotency.add("default", "key-1", "fp", session.id, reply)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.idempotency.get("default", "key-1")
        other_owner = await uow.idempotency.get("tenant-b", "key-1")

    assert missing is None
    assert stored == ("fp", reply)
    assert other_owner is None


async def test_deleting_a_session_removes_its_data_but_keeps_the_money(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine
) -> None:
    session, survivor = a_session(), a_session()
    await _store(uow_factory, session, survivor)
    async with uow_factory() as uow:
        await uow.messages.add_many([a_message(session, 1), a_message(session, 2)])
        await uow.messages.add_many([a_message(survivor, 1)])
        await uow.summaries.add(a_summary(session, 1))
        await uow.calls.add(a_call(session.id))
        await uow.calls.add(a_call(session.id, kind="summary"))
        await uow.idempotency.add("default", "key-1", "fp", session.id, {})
        await uow.commit()

    async with uow_factory() as uow:
        refused = await uow.sessions.delete(session.id, "another-owner")
        deleted = await uow.sessions.delete(session.id, session.owner)
        await uow.commit()
    async with uow_factory() as uow:
        gone = await uow.sessions.get(session.id, session.owner)
        messages = await uow.messages.page(session.id, 10, 0)
        summaries = await uow.summaries.all(session.id)
        key = await uow.idempotency.get("default", "key-1")
        session_totals = await uow.calls.totals(session.id)
        all_totals = await uow.calls.totals(None)
        survivor_messages = await uow.messages.page(survivor.id, 10, 0)
    async with engine.connect() as connection:
        orphaned_calls = await connection.scalar(
            sa.text("SELECT count(*) FROM provider_calls WHERE session_id IS NULL")
        )

    assert (refused, deleted) == (False, True)
    assert (gone, list(messages), list(summaries), key) == (None, [], [], None)
    assert session_totals == []
    assert sum(t.calls for t in all_totals) == 2
    assert sum(t.cost for t in all_totals) == Decimal("0.000075")
    assert orphaned_calls == 2
    assert len(survivor_messages) == 1


async def test_deleting_an_unknown_session_reports_false(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        assert not await uow.sessions.delete("sess_missing", "default")


async def test_a_naive_timestamp_is_refused_rather_than_guessed(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    async def store_naive() -> None:
        await _store(uow_factory, a_session(created_at=T0.replace(tzinfo=None)))

    with pytest.raises(ValueError, match="timezone-aware"):
        await store_naive()
