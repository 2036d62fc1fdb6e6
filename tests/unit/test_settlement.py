"""Settlement: what a finished or failed turn stores and answers, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

from src.domain.entities import CallRecord, Message, Session, SummaryVersion
from src.domain.llm import ChatMessage, ChatResult, TokenUsage
from src.domain.provider_chain import Answer
from src.domain.settlement import LoadedTurn, settle_answer, settle_failure
from src.domain.turns import TurnCommand

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 9, 0, 2, tzinfo=UTC)


def _call(
    kind: str = "turn", ok: bool = True, cost: Decimal | None = Decimal("0.001")
) -> CallRecord:
    return CallRecord(
        id=f"call_{kind}_{ok}",
        session_id="sess_1",
        kind=kind,  # type: ignore[arg-type]
        provider="fake",
        model="fake-1",
        usage=TokenUsage(input_tokens=40, output_tokens=6),
        cost=cost if ok else Decimal(0),
        latency_s=0.5,
        created_at=T0,
        ok=ok,
        error_code=None if ok else "ProviderServerError",
    )


def _session(**fields: object) -> Session:
    return Session(id="sess_1", created_at=T0, updated_at=T0, message_count=4, **fields)  # type: ignore[arg-type]


def _answer(text: str = "the reply", interrupted: bool = False) -> Answer:
    usage = TokenUsage(input_tokens=120, output_tokens=9)
    return Answer("fake", "fake-1", ChatResult(text, "fake-1", usage), 1.0, None, interrupted)


def _ids() -> object:
    numbers = count(1)
    return lambda prefix: f"{prefix}_{next(numbers)}"


def test_a_failure_stores_only_its_calls_detached_when_the_session_would_be_new() -> None:
    failed = _call(ok=False)
    existing = LoadedTurn(_session(), is_new=False, window=[], received_at=T0, calls=[failed])
    new = LoadedTurn(_session(), is_new=True, window=[], received_at=T0, calls=[failed])
    kept = settle_failure(existing)
    assert kept.calls == (failed,) and kept.session is None and kept.messages == ()
    assert [c.session_id for c in settle_failure(new).calls] == [None]


def test_an_answer_stores_question_and_reply_after_the_last_message_and_counts_them() -> None:
    turn = LoadedTurn(
        _session(live_tokens=10),
        is_new=False,
        window=[],
        received_at=T0,
        context=(ChatMessage("system", "x" * 40), ChatMessage("user", "q")),
        added=(ChatMessage("user", "the question"),),
    )
    turn_call = _call()
    s = settle_answer(
        TurnCommand("the question", session_id="sess_1"),
        turn,
        _answer(),
        turn_call,
        now=T1,
        elapsed_s=2.0,
        make_id=_ids(),  # type: ignore[arg-type]
    )
    question, reply = s.messages
    assert (question.seq, question.role, question.content, question.created_at) == (
        5,
        "user",
        "the question",
        T0,
    )
    assert (reply.seq, reply.role, reply.content, reply.cost) == (
        6,
        "assistant",
        "the reply",
        Decimal("0.001"),
    )
    assert s.session is not None and s.session.message_count == 6 and s.session.updated_at == T1
    # live tokens anchored on the provider's count: 120 input - 10 system estimate + 9 output
    assert s.session.live_tokens == 119
    assert turn.session is not None and turn.session.message_count == 4  # the input is untouched
    assert s.calls == (turn_call,) and s.idempotency is None
    assert s.result is not None and s.result.message_count == 6 and s.result.execution_time == 2.0


def test_a_new_summary_moves_the_cut_off_and_its_cost_is_reported_apart() -> None:
    summary = SummaryVersion("sess_1", 1, "short", 1, 2, T0, "fake", "fake-1")
    window = [Message("m3", "sess_1", 3, "user", "q", T0)]
    turn = LoadedTurn(
        _session(),
        is_new=False,
        window=window,
        received_at=T0,
        new_summary=summary,
        calls=[_call("summary", cost=Decimal("0.0002"))],
    )
    s = settle_answer(
        TurnCommand("q", session_id="sess_1", idempotency_key="k"),
        turn,
        _answer(),
        _call(),
        now=T1,
        elapsed_s=1,
    )
    assert s.summary == summary and s.session is not None
    assert (s.session.summary, s.session.summary_through_seq, s.session.summary_version) == (
        "short",
        2,
        1,
    )
    assert s.result is not None and s.result.was_summarized
    assert (s.result.summary_tokens, s.result.summary_cost) == (46, Decimal("0.0002"))
    assert s.idempotency is not None and s.idempotency.reply == s.result


def test_a_summary_of_unknown_price_makes_the_summary_cost_unknown_not_zero() -> None:
    turn = LoadedTurn(
        _session(), is_new=False, window=[], received_at=T0, calls=[_call("summary", cost=None)]
    )
    s = settle_answer(TurnCommand("q"), turn, _answer(), _call(), now=T1, elapsed_s=1)
    assert s.result is not None and s.result.summary_cost is None


def test_a_stateless_turn_stores_its_call_and_nothing_else() -> None:
    turn = LoadedTurn(None, is_new=False, window=[], received_at=T0)
    s = settle_answer(TurnCommand(""), turn, _answer(), _call(), now=T1, elapsed_s=1)
    assert s.session is None and s.messages == () and len(s.calls) == 1
    assert s.result is not None and s.result.session_id is None and s.result.message_count == 0


def test_an_interrupted_answer_is_stored_marked_so() -> None:
    turn = LoadedTurn(_session(), is_new=False, window=[], received_at=T0)
    s = settle_answer(
        TurnCommand("q"), turn, _answer("part", interrupted=True), _call(), now=T1, elapsed_s=1
    )
    assert s.messages[-1].interrupted and s.messages[-1].content == "part"
    assert s.result is not None and s.result.interrupted
