"""The session manager against in-memory fakes: SPEC §4 memory rules, failures, idempotency."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from src.domain.errors import (
    IdempotencyConflict,
    InvalidInput,
    ProviderNotConfigured,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderUnavailable,
    SessionBusy,
    SessionNotFound,
)
from src.domain.llm import ChatResult, TextDelta, TokenUsage
from src.domain.memory import SUMMARY_HEADER, MemoryPolicy
from src.domain.ports import Ports
from src.domain.pricing import ModelPrice
from src.domain.session_manager import SessionManager
from src.domain.turns import SessionOpened, Target, TurnCommand, TurnDone
from tests.fakes.domain import (
    FakeClock,
    FakeDirectory,
    FakeLocks,
    FakeProvider,
    FakeStore,
    FixedPrices,
)

PRICE = ModelPrice(input=Decimal("2.50"), cached_input=Decimal("1.25"), output=Decimal("10.00"))


class World:
    def __init__(self, policy: MemoryPolicy | None = None, **providers: FakeProvider) -> None:
        self.provider = FakeProvider()
        self.other = FakeProvider("other", "other-1")
        self.store = FakeStore()
        self.clock = FakeClock()
        self.locks = FakeLocks()
        self.directory = FakeDirectory(self.provider, self.other, unconfigured=["absent"])
        self.manager = SessionManager(
            Ports(
                uow=self.store,
                providers=self.directory,
                prices=FixedPrices({("fake", "fake-1"): PRICE}),
                locks=self.locks,
                clock=self.clock,
            ),
            policy or MemoryPolicy(),
        )

    async def turns(self, session_id: str, count: int, start: int = 1) -> None:
        for i in range(start, start + count):
            await self.manager.run_turn(TurnCommand(message=f"question {i}", session_id=session_id))

    def messages(self, session_id: str) -> list[tuple[int, str, str]]:
        return [
            (m.seq, m.role, m.content)
            for m in sorted(self.store.data.messages.get(session_id, []), key=lambda m: m.seq)
        ]


async def test_first_turn_creates_a_session_and_stores_both_messages_with_cost() -> None:
    w = World()
    result = await w.manager.run_turn(TurnCommand(message="hello"))
    assert result.session_id.startswith("sess_") and len(result.session_id) == 37
    assert result.message_count == 2
    assert result.response == "reply to: hello"
    # 10 input tokens (2 cached) and 7 output at 2.50 / 1.25 / 10.00 per million
    assert (
        result.cost
        == (8 * Decimal("2.50") + 2 * Decimal("1.25") + 7 * Decimal("10.00")) / 1_000_000
    )
    assert w.messages(result.session_id) == [
        (1, "user", "hello"),
        (2, "assistant", "reply to: hello"),
    ]
    assert not result.was_summarized and result.summary_tokens == 0 and result.summary_cost == 0


async def test_unknown_model_price_is_reported_as_unknown_never_zero() -> None:
    w = World()
    result = await w.manager.run_turn(
        TurnCommand(message="hi", target=Target("fake", "mystery-model"))
    )
    assert result.cost is None
    assert result.model == "mystery-model"


async def test_eleventh_turn_folds_all_but_the_last_six_into_a_summary() -> None:
    w = World()
    session = await w.manager.create_session(system_prompt="be brief")
    await w.turns(session.id, 10)
    assert not w.store.data.summaries
    result = await w.manager.run_turn(TurnCommand(message="question 11", session_id=session.id))
    assert result.was_summarized
    assert result.summary_tokens == 55
    summary_request, turn_request = w.provider.requests[-2:]
    folded = summary_request.messages[1].content
    assert "question 1\n" in folded and "reply to: question 7" in folded
    assert "question 8" not in folded
    sent = [(m.role, m.content) for m in turn_request.messages]
    assert sent[0] == ("system", "be brief")
    assert sent[1] == ("system", SUMMARY_HEADER + "short summary")
    assert [c for _, c in sent[2:]] == [
        "question 8",
        "reply to: question 8",
        "question 9",
        "reply to: question 9",
        "question 10",
        "reply to: question 10",
        "question 11",
    ]
    [version] = w.store.data.summaries[session.id]
    assert (version.version, version.from_seq, version.to_seq) == (1, 1, 14)
    stored = w.store.data.sessions[session.id]
    assert stored.summary_through_seq == 14 and stored.message_count == 22
    # every message is still kept
    assert len(w.messages(session.id)) == 22


async def test_the_next_summary_folds_the_previous_one() -> None:
    w = World()
    session = await w.manager.create_session()
    await w.turns(session.id, 11)
    # live window is now 8 messages; 7 more turns pass 20 again
    await w.turns(session.id, 7, start=12)
    versions = w.store.data.summaries[session.id]
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].from_seq == 15
    summary_request = next(
        r for r in reversed(w.provider.requests) if r.messages[0].content.startswith("You maintain")
    )
    assert "Previous summary:\nshort summary" in summary_request.messages[1].content


async def test_token_threshold_counts_only_the_live_window_not_the_system_prompt() -> None:
    w = World(MemoryPolicy(summary_token_threshold=1000))
    w.provider.script = lambda r: ChatResult(
        "ok",
        r.model,
        TokenUsage(input_tokens=sum(len(m.content) for m in r.messages) // 4, output_tokens=1),
    )
    session = await w.manager.create_session(system_prompt="x" * 40_000)  # ~10k tokens
    await w.turns(session.id, 5)
    assert not w.store.data.summaries, "a large system prompt alone must not trigger summarization"


async def test_token_threshold_fires_on_a_large_live_window() -> None:
    w = World(MemoryPolicy(summary_token_threshold=1000, keep_recent=2))
    w.provider.script = lambda r: (
        ChatResult("tiny", r.model, TokenUsage(input_tokens=10, output_tokens=2))
        if r.messages[0].content.startswith("You maintain")
        else ChatResult(
            "ok",
            r.model,
            TokenUsage(input_tokens=sum(len(m.content) for m in r.messages) // 4, output_tokens=1),
        )
    )
    session = await w.manager.create_session()
    for i in range(3):
        await w.manager.run_turn(TurnCommand(message=f"{i} " + "y" * 2000, session_id=session.id))
    assert w.store.data.summaries[session.id], "~1500 live tokens plus the new message passes 1000"


@pytest.mark.parametrize(
    "summary_outcome",
    [
        ProviderServerError("fake", "boom", status=500),
        ChatResult("   ", "fake-1", TokenUsage(1, 1)),
        ChatResult("z" * 10_000, "fake-1", TokenUsage(1, 1)),
    ],
    ids=["failed", "empty", "not-shorter"],
)
async def test_a_rejected_summary_leaves_memory_as_it_was_and_the_turn_goes_on(
    summary_outcome: object,
) -> None:
    w = World(MemoryPolicy(max_history=8))
    session = await w.manager.create_session()
    await w.turns(session.id, 10)
    echo = w.provider.echo
    w.provider.script = lambda r: (
        summary_outcome if r.messages[0].content.startswith("You maintain") else echo(r)
    )  # type: ignore[return-value]
    result = await w.manager.run_turn(TurnCommand(message="question 11", session_id=session.id))
    assert not result.was_summarized
    assert result.response == "reply to: question 11"
    stored = w.store.data.sessions[session.id]
    assert stored.summary is None and stored.summary_through_seq == 0
    assert session.id not in w.store.data.summaries
    # capped window: the last 8 messages plus the new one, no summary message
    assert len(w.provider.requests[-1].messages) == 9
    summary_calls = [c for c in w.store.data.calls if c.kind == "summary"]
    assert len(summary_calls) == 1 and summary_calls[0].ok is (
        not isinstance(summary_outcome, Exception)
    )


async def test_a_provider_failure_stores_nothing_but_is_counted() -> None:
    w = World()
    session = await w.manager.create_session()
    await w.turns(session.id, 1)
    w.provider.queue.append(ProviderServerError("fake", "upstream 500", status=500))
    with pytest.raises(ProviderServerError):
        await w.manager.run_turn(TurnCommand(message="will fail", session_id=session.id))
    assert len(w.messages(session.id)) == 2
    assert w.store.data.sessions[session.id].message_count == 2
    failed = [c for c in w.store.data.calls if not c.ok]
    assert len(failed) == 1 and failed[0].session_id == session.id


async def test_a_failed_first_turn_creates_no_session() -> None:
    w = World()
    w.provider.queue.append(ProviderServerError("fake", "boom", status=502))
    with pytest.raises(ProviderServerError):
        await w.manager.run_turn(TurnCommand(message="hello"))
    assert w.store.data.sessions == {}
    assert [c.session_id for c in w.store.data.calls] == [None]


async def test_unknown_session_and_unconfigured_or_unknown_provider() -> None:
    w = World()
    with pytest.raises(SessionNotFound):
        await w.manager.run_turn(TurnCommand(message="hi", session_id="sess_missing"))
    with pytest.raises(ProviderNotConfigured) as err:
        await w.manager.run_turn(TurnCommand(message="hi", target=Target("absent")))
    assert "ABSENT_API_KEY" in err.value.message
    with pytest.raises(InvalidInput):
        await w.manager.run_turn(TurnCommand(message="hi", target=Target("nope")))
    assert w.store.data.sessions == {}


async def test_idempotency_key_replays_the_first_answer_without_a_second_call() -> None:
    w = World()
    session = await w.manager.create_session()
    cmd = TurnCommand(message="pay once", session_id=session.id, idempotency_key="k1")
    first = await w.manager.run_turn(cmd)
    again = await w.manager.run_turn(cmd)
    assert again == first
    assert len(w.provider.requests) == 1
    assert len(w.messages(session.id)) == 2
    with pytest.raises(IdempotencyConflict):
        await w.manager.run_turn(
            TurnCommand(message="something else", session_id=session.id, idempotency_key="k1")
        )


async def test_idempotency_key_on_a_new_session_replays_the_same_session() -> None:
    w = World()
    cmd = TurnCommand(message="start", idempotency_key="new-1")
    first = await w.manager.run_turn(cmd)
    second = await w.manager.run_turn(cmd)
    assert second.session_id == first.session_id
    assert len(w.store.data.sessions) == 1


async def test_fallback_answers_when_the_primary_is_unavailable() -> None:
    w = World()
    w.provider.queue.append(ProviderUnavailable("fake", "rate limited"))
    result = await w.manager.run_turn(
        TurnCommand(
            message="hi",
            target=Target("fake"),
            fallbacks=(Target("absent"), Target("other", "other-9")),
        )
    )
    assert (result.provider, result.model, result.fallback_from) == ("other", "other-9", "fake")
    failures = [(c.provider, c.error_code) for c in w.store.data.calls if not c.ok]
    assert failures == [("fake", "ProviderUnavailable"), ("absent", "ProviderNotConfigured")]


async def test_no_fallback_when_the_request_itself_was_rejected() -> None:
    w = World()
    w.provider.queue.append(ProviderRejectedRequest("fake", "context too long", status=400))
    with pytest.raises(ProviderRejectedRequest):
        await w.manager.run_turn(TurnCommand(message="hi", fallbacks=(Target("other"),)))
    assert w.other.requests == []


async def test_concurrent_turns_are_serialized_each_reply_after_its_question() -> None:
    w = World(MemoryPolicy(summarization_threshold=1000))
    w.provider.delay_s = 0.001
    session = await w.manager.create_session()
    await asyncio.gather(
        *(
            w.manager.run_turn(TurnCommand(message=f"q{i}", session_id=session.id))
            for i in range(20)
        )
    )
    msgs = w.messages(session.id)
    assert [seq for seq, _, _ in msgs] == list(range(1, 41))
    for (_, role_q, q), (_, role_a, a) in zip(msgs[::2], msgs[1::2], strict=True):
        assert (role_q, role_a) == ("user", "assistant") and a == f"reply to: {q}"


async def test_a_turn_waiting_past_the_lock_timeout_is_busy() -> None:
    w = World(MemoryPolicy(lock_timeout_s=0.05))
    session = await w.manager.create_session()
    w.provider.delay_s = 0.3
    slow = asyncio.create_task(
        w.manager.run_turn(TurnCommand(message="slow", session_id=session.id))
    )
    await asyncio.sleep(0.01)
    with pytest.raises(SessionBusy):
        await w.manager.run_turn(TurnCommand(message="second", session_id=session.id))
    await slow
    assert len(w.messages(session.id)) == 2


async def test_streamed_turn_yields_session_deltas_then_done_and_stores_it() -> None:
    w = World()
    events = [e async for e in w.manager.stream_turn(TurnCommand(message="stream me"))]
    assert isinstance(events[0], SessionOpened)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(deltas) == "reply to: stream me" and len(deltas) > 1
    done = events[-1]
    assert isinstance(done, TurnDone) and done.result.message_count == 2
    assert w.messages(events[0].session_id)[1][2] == "reply to: stream me"


async def test_a_stream_abandoned_midway_stores_the_partial_reply_marked_interrupted() -> None:
    w = World()
    session = await w.manager.create_session()
    stream = w.manager.stream_turn(TurnCommand(message="long answer", session_id=session.id))
    assert isinstance(await anext(stream), SessionOpened)
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()
    [question, reply] = sorted(w.store.data.messages[session.id], key=lambda m: m.seq)
    assert reply.interrupted and reply.content == first.text
    assert question.content == "long answer"
    [call] = w.store.data.calls
    assert call.usage.estimated


async def test_metrics_totals_equal_the_sum_of_the_turns_including_summaries() -> None:
    w = World()
    session = await w.manager.create_session()
    results = [
        await w.manager.run_turn(TurnCommand(message=f"m{i}", session_id=session.id))
        for i in range(11)
    ]
    metrics = await w.manager.session_metrics(session.id)
    turn_tokens = sum(r.usage.total_tokens for r in results)
    assert metrics.total_tokens == turn_tokens + sum(r.summary_tokens for r in results)
    assert metrics.summary_tokens == 55
    assert metrics.total_cost == sum((r.cost or Decimal(0) for r in results), Decimal(0)) + sum(
        (r.summary_cost or Decimal(0) for r in results), Decimal(0)
    )
    assert metrics.by_provider["fake"].calls == 11
    assert metrics.last_summary_at is not None
    usage = await w.manager.global_usage()
    assert usage.providers["fake"].tokens == metrics.total_tokens
    assert usage.sessions.total == 1


async def test_sessions_crud_and_history_paging() -> None:
    w = World()
    a = await w.manager.create_session(user_id="u1", metadata={"k": 1})
    w.clock.advance(1)
    b = await w.manager.create_session(user_id="u1")
    await w.turns(a.id, 3)
    sessions, total = await w.manager.list_sessions(user_id="u1", limit=10, offset=0)
    assert [s.id for s in sessions] == [b.id, a.id] and total == 2
    page = await w.manager.history(a.id, limit=4, offset=0)
    assert [m.seq for m in page.messages] == [1, 2, 3, 4] and page.total == 6 and page.has_more
    page = await w.manager.history(a.id, limit=4, offset=4)
    assert [m.seq for m in page.messages] == [5, 6] and not page.has_more
    await w.manager.delete_session(a.id)
    with pytest.raises(SessionNotFound):
        await w.manager.get_session(a.id)
    with pytest.raises(SessionNotFound):
        await w.manager.delete_session(a.id)
