"""Whole and streamed turns agree: one table of scenarios, each run both ways on fresh fakes,
must leave the same stored messages, the same call records and the same metrics, and answer
the same reply or raise the same error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from src.domain.errors import (
    OrchestratorError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from src.domain.llm import ChatResult, TextDelta, TokenUsage
from src.domain.memory import MemoryPolicy
from src.domain.turns import SessionOpened, Target, TurnCommand, TurnDone, TurnResult
from tests.unit.test_session_manager import World

Setup = Callable[[World], Awaitable[TurnCommand]]


async def _existing(w: World, turns: int = 2) -> str:
    session = await w.manager.create_session(system_prompt="be brief")
    await w.turns(session.id, turns)
    return session.id


def _fails_with(error: ProviderError) -> Setup:
    async def setup(w: World) -> TurnCommand:
        session_id = await _existing(w)
        w.provider.queue.append(error)
        return TurnCommand(message="will fail", session_id=session_id)

    return setup


async def _new_session(w: World) -> TurnCommand:
    return TurnCommand(message="hello there")


async def _existing_session(w: World) -> TurnCommand:
    return TurnCommand(message="and then?", session_id=await _existing(w))


async def _fallback_past_unconfigured_and_failing(w: World) -> TurnCommand:
    session_id = await _existing(w)
    w.provider.queue.append(ProviderServerError("fake", "upstream 503", status=503))
    return TurnCommand(
        message="hi",
        session_id=session_id,
        target=Target("fake"),
        fallbacks=(Target("absent"), Target("other", "other-9")),
    )


async def _unconfigured_first_fallback(w: World) -> TurnCommand:
    w.provider.queue.append(ProviderUnavailable("fake", "circuit open"))
    return TurnCommand(message="hi", fallbacks=(Target("absent"), Target("other")))


async def _rejected_never_falls_back(w: World) -> TurnCommand:
    session_id = await _existing(w)
    w.provider.queue.append(ProviderRejectedRequest("fake", "context too long", status=400))
    return TurnCommand(message="hi", session_id=session_id, fallbacks=(Target("other"),))


async def _every_route_fails(w: World) -> TurnCommand:
    session_id = await _existing(w)
    w.provider.queue.append(ProviderTimeout("fake", "no answer"))
    w.other.queue.append(ProviderServerError("other", "upstream 500", status=500))
    return TurnCommand(message="hi", session_id=session_id, fallbacks=(Target("other"),))


async def _summarization(w: World) -> TurnCommand:
    return TurnCommand(message="question 11", session_id=await _existing(w, turns=10))


async def _failed_summary(w: World) -> TurnCommand:
    session_id = await _existing(w, turns=10)
    w.provider.queue.append(ProviderServerError("fake", "summary failed", status=500))
    return TurnCommand(message="question 11", session_id=session_id)


async def _summary_then_failed_turn(w: World) -> TurnCommand:
    session_id = await _existing(w, turns=10)
    w.provider.queue.append(ChatResult("short summary", "fake-1", TokenUsage(50, 5)))
    w.provider.queue.append(ProviderServerError("fake", "turn failed", status=502))
    return TurnCommand(message="question 11", session_id=session_id)


async def _idempotent_replay(w: World) -> TurnCommand:
    cmd = TurnCommand(message="pay once", session_id=await _existing(w), idempotency_key="k1")
    await w.manager.run_turn(cmd)
    return cmd


async def _failed_first_turn(w: World) -> TurnCommand:
    w.provider.queue.append(ProviderServerError("fake", "boom", status=502))
    return TurnCommand(message="hello")


SCENARIOS: dict[str, Setup] = {
    "new session": _new_session,
    "existing session": _existing_session,
    "server error": _fails_with(ProviderServerError("fake", "upstream 500", status=500)),
    "timeout": _fails_with(ProviderTimeout("fake", "no answer in time")),
    "rate limited": _fails_with(ProviderRateLimited("fake", "429", status=429)),
    "connection dropped": _fails_with(ProviderConnectionError("fake", "reset")),
    "auth": _fails_with(ProviderAuthError("fake", "FAKE_API_KEY", status=401)),
    "rejected": _fails_with(ProviderRejectedRequest("fake", "bad model", status=404)),
    "fallback past unconfigured and failing": _fallback_past_unconfigured_and_failing,
    "unconfigured first fallback": _unconfigured_first_fallback,
    "rejected never falls back": _rejected_never_falls_back,
    "every route fails": _every_route_fails,
    "summarization": _summarization,
    "failed summary": _failed_summary,
    "summary then failed turn": _summary_then_failed_turn,
    "idempotent replay": _idempotent_replay,
    "failed first turn": _failed_first_turn,
}


@dataclass
class Outcome:
    result: dict[str, Any] | None
    error: tuple[type[OrchestratorError], str] | None
    stored: dict[str, Any]


def _result_view(result: TurnResult) -> dict[str, Any]:
    return {
        "response": result.response,
        "provider": result.provider,
        "model": result.model,
        "message_count": result.message_count,
        "usage": result.usage,
        "cost": result.cost,
        "was_summarized": result.was_summarized,
        "summary_tokens": result.summary_tokens,
        "summary_cost": result.summary_cost,
        "fallback_from": result.fallback_from,
        "interrupted": result.interrupted,
    }


async def _stored(w: World) -> dict[str, Any]:
    data = w.store.data
    sessions = sorted(data.sessions.values(), key=lambda s: s.created_at)
    metrics = [await w.manager.session_metrics(s.id) for s in sessions]
    usage = await w.manager.global_usage()
    return {
        "sessions": [
            (s.message_count, s.summary, s.summary_through_seq, s.live_tokens) for s in sessions
        ],
        "messages": [
            [(m.seq, m.role, m.content, m.provider, m.model, m.interrupted) for m in ms]
            for ms in (sorted(data.messages.get(s.id, []), key=lambda m: m.seq) for s in sessions)
        ],
        "summaries": [
            (v.version, v.from_seq, v.to_seq) for vs in data.summaries.values() for v in vs
        ],
        "calls": [
            (c.kind, c.provider, c.model, c.ok, c.error_code, c.usage, c.cost, c.session_id is None)
            for c in data.calls
        ],
        "metrics": [
            (m.total_tokens, m.total_cost, m.summary_tokens, m.summary_cost, m.by_provider)
            for m in metrics
        ],
        "global": (usage.providers, usage.sessions.total),
    }


async def _whole(w: World, cmd: TurnCommand) -> TurnResult:
    return await w.manager.run_turn(cmd)


async def _streamed(w: World, cmd: TurnCommand) -> TurnResult:
    events = [e async for e in w.manager.stream_turn(cmd)]
    assert isinstance(events[0], SessionOpened)
    done = events[-1]
    assert isinstance(done, TurnDone)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == done.result.response
    return done.result


async def _outcome(
    setup: Setup, way: Callable[[World, TurnCommand], Awaitable[TurnResult]]
) -> Outcome:
    w = World()
    cmd = await setup(w)
    try:
        result = await way(w, cmd)
    except OrchestratorError as error:
        return Outcome(None, (type(error), error.message), await _stored(w))
    return Outcome(_result_view(result), None, await _stored(w))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_whole_and_streamed_turns_store_and_answer_the_same(scenario: str) -> None:
    whole = await _outcome(SCENARIOS[scenario], _whole)
    streamed = await _outcome(SCENARIOS[scenario], _streamed)
    assert streamed.error == whole.error
    assert streamed.result == whole.result
    assert streamed.stored == whole.stored


async def test_the_scenarios_cover_answers_failures_fallbacks_and_summaries() -> None:
    """The table is not vacuous: it holds answered and failed turns, fallbacks, summaries."""
    outcomes = {name: await _outcome(setup, _whole) for name, setup in SCENARIOS.items()}
    assert outcomes["fallback past unconfigured and failing"].result == {
        **(outcomes["fallback past unconfigured and failing"].result or {}),
        "provider": "other",
        "model": "other-9",
        "fallback_from": "fake",
    }
    failed_calls = [
        (c[1], c[4])
        for c in outcomes["fallback past unconfigured and failing"].stored["calls"]
        if not c[3]
    ]
    assert failed_calls == [("fake", "ProviderServerError"), ("absent", "ProviderNotConfigured")]
    assert outcomes["unconfigured first fallback"].result is not None
    assert outcomes["summarization"].result and outcomes["summarization"].result["was_summarized"]
    assert outcomes["rejected never falls back"].error is not None
    paid_summary = outcomes["summary then failed turn"].stored["calls"]
    assert [(c[0], c[3]) for c in paid_summary[-2:]] == [("summary", True), ("turn", False)]


async def _cancelled_during_call(
    way: Callable[[World, TurnCommand], Awaitable[TurnResult]],
) -> dict[str, Any]:
    """The consumer goes away while the provider is still thinking (no text yet)."""
    w = World(MemoryPolicy())
    session_id = await _existing(w)
    w.provider.delay_s = 5
    task = asyncio.create_task(way(w, TurnCommand(message="slow", session_id=session_id)))
    while len(w.provider.requests) < 3:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return await _stored(w)


async def test_a_turn_cancelled_before_any_text_keeps_its_call_record_both_ways() -> None:
    whole = await _cancelled_during_call(_whole)
    streamed = await _cancelled_during_call(_streamed)
    assert whole == streamed
    last = whole["calls"][-1]
    assert last[0] == "turn" and last[5].estimated and last[5].input_tokens > 0
    assert [len(ms) for ms in whole["messages"]] == [4]  # memory unchanged


async def test_a_stream_failing_after_its_first_delta_stores_nothing_but_the_failed_call() -> None:
    w = World()
    session_id = await _existing(w)
    w.provider.fail_mid_stream = (1, ProviderConnectionError("fake", "dropped"))
    stream = w.manager.stream_turn(
        TurnCommand(message="cut", session_id=session_id, fallbacks=(Target("other"),))
    )
    seen: list[object] = []

    async def consume() -> None:
        async for event in stream:
            seen.append(event)

    with pytest.raises(ProviderConnectionError):
        await consume()
    assert [type(e) for e in seen] == [SessionOpened, TextDelta]
    assert w.other.requests == []  # text was forwarded: no fallback can take it back
    assert len(w.messages(session_id)) == 4
    assert [(c.provider, c.ok) for c in w.store.data.calls][-1] == ("fake", False)
