"""One session held across all eight providers, switching provider every turn, over HTTP.

Twelve turns rotate through openai, anthropic, gemini, mistral, grok, qwen, deepseek, kimi;
with the SPEC defaults (summarize past 20 messages, keep the last 6) the 11th turn folds the
first 14 messages into a summary. Every provider must see the conversation the others had,
in its own protocol, and every figure the service reports must add up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from src.domain.memory import SUMMARY_HEADER
from tests.fakes.upstream import Received
from tests.integration.conftest import (
    DEFAULT_MODELS,
    DIALECTS,
    KNOWN_USAGE,
    PROVIDERS,
    Service,
    Turn,
    Upstreams,
    is_summary_request,
    reply_text,
    serving,
    summary_text,
    usd,
)

TURNS = 12
SUMMARIZING_TURN = 11  # 10 turns store 20 messages; the 11th would make the window 21
KEEP_RECENT = 6
FOLDED_TURNS = (2 * (SUMMARIZING_TURN - 1) - KEEP_RECENT) // 2  # messages 1..14: turns 1..7


def provider_of(turn: int) -> str:
    return PROVIDERS[(turn - 1) % len(PROVIDERS)]


def question(turn: int) -> str:
    return f"question {turn}: what would {provider_of(turn)} say?"


def exchange(turn: int) -> list[Turn]:
    """The two messages turn ``turn`` stores."""
    return [("user", question(turn)), ("assistant", reply_text(provider_of(turn), question(turn)))]


def exchanges(first: int, last: int) -> list[Turn]:
    return [message for turn in range(first, last + 1) for message in exchange(turn)]


def price_of_call(provider: str) -> float:
    """What one call of ``provider``'s default model with its known usage costs, in USD."""
    return usd(provider, DEFAULT_MODELS[provider], KNOWN_USAGE[provider])


@dataclass
class Conversation:
    session_id: str = ""
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: What each turn's provider received: the turn's request, and any summary request.
    requests: dict[int, Received] = field(default_factory=dict)
    summary_requests: dict[int, list[Received]] = field(default_factory=dict)
    #: The session's summary as ``GET /api/sessions/{id}`` showed it after each turn.
    summaries: dict[int, str | None] = field(default_factory=dict)


@pytest.fixture(scope="module")
def held(
    tmp_path_factory: pytest.TempPathFactory, upstreams: Upstreams
) -> Iterator[tuple[Service, Conversation]]:
    """Holds the twelve-turn conversation once; the tests below read what it left."""
    upstreams.reset()
    database = tmp_path_factory.mktemp("all_providers") / "db.sqlite"
    talk = Conversation()
    with serving(database, upstreams.env()) as service:
        for turn in range(1, TURNS + 1):
            provider = provider_of(turn)
            fake = upstreams[provider]
            before = len(fake.received)
            answer = service.turn(question(turn), talk.session_id or None, provider=provider)
            talk.session_id = answer["session_id"]
            talk.answers[turn] = answer
            arrived = fake.received[before:]
            turn_requests = [r for r in arrived if not is_summary_request(r)]
            assert len(turn_requests) == 1, f"turn {turn} called {provider} more than once"
            talk.requests[turn] = turn_requests[0]
            talk.summary_requests[turn] = [r for r in arrived if is_summary_request(r)]
            talk.summaries[turn] = service.get(f"/api/sessions/{talk.session_id}")["summary"]
        yield service, talk


def test_every_turn_is_answered_by_the_provider_it_named(
    held: tuple[Service, Conversation],
) -> None:
    _, talk = held
    for turn, answer in talk.answers.items():
        provider = provider_of(turn)
        usage = KNOWN_USAGE[provider]
        meta = answer["metadata"]
        assert answer["session_id"] == talk.session_id
        assert (answer["agent_used"], answer["model_used"]) == (provider, DEFAULT_MODELS[provider])
        assert answer["response"] == reply_text(provider, question(turn))
        assert answer["message_count"] == 2 * turn
        assert (meta["input_tokens"], meta["output_tokens"], meta["cached_input_tokens"]) == (
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens,
        ), provider
        assert meta["tokens_used"] == usage.total_tokens
        assert meta["usage_estimated"] is False
        assert meta["cost_estimate"] == pytest.approx(price_of_call(provider), abs=1e-12), provider


def test_each_provider_is_sent_the_whole_conversation_the_others_had(
    held: tuple[Service, Conversation],
) -> None:
    _, talk = held
    for turn in range(1, SUMMARIZING_TURN):
        request = talk.requests[turn]
        dialect = DIALECTS[provider_of(turn)]
        assert dialect.system(request) is None, turn
        assert dialect.conversation(request) == [
            *exchanges(1, turn - 1),
            ("user", question(turn)),
        ], f"turn {turn} ({provider_of(turn)})"


def test_the_eleventh_turn_folds_the_oldest_messages_into_a_summary(
    held: tuple[Service, Conversation],
) -> None:
    _, talk = held
    summarizer = provider_of(SUMMARIZING_TURN)
    assert [talk.summaries[t] for t in range(1, SUMMARIZING_TURN)] == [None] * 10
    assert talk.summaries[SUMMARIZING_TURN] == summary_text(summarizer)
    assert talk.summaries[TURNS] == summary_text(summarizer)
    flagged = [t for t, a in talk.answers.items() if a["metadata"]["was_summarized"]]
    assert flagged == [SUMMARIZING_TURN]
    # One summary call, by the turn's own provider, over messages 1..14 only.
    (summary_call,) = talk.summary_requests[SUMMARIZING_TURN]
    assert sum(len(calls) for calls in talk.summary_requests.values()) == 1
    folded = str(summary_call.body)
    assert question(FOLDED_TURNS) in folded
    assert reply_text(provider_of(FOLDED_TURNS), question(FOLDED_TURNS)) in folded
    assert question(FOLDED_TURNS + 1) not in folded
    meta = talk.answers[SUMMARIZING_TURN]["metadata"]
    assert meta["summary_tokens"] == KNOWN_USAGE[summarizer].total_tokens
    assert meta["summary_cost"] == pytest.approx(price_of_call(summarizer), abs=1e-12)


@pytest.mark.parametrize("turn", [SUMMARIZING_TURN, TURNS])
def test_after_the_summary_a_turn_sends_it_with_only_the_last_messages(
    held: tuple[Service, Conversation], turn: int
) -> None:
    """Turn 11 (Gemini: ``systemInstruction``) and turn 12 (Mistral: a system message)."""
    _, talk = held
    request = talk.requests[turn]
    dialect = DIALECTS[provider_of(turn)]
    assert dialect.system(request) == SUMMARY_HEADER + summary_text(provider_of(SUMMARIZING_TURN))
    assert dialect.conversation(request) == [
        *exchanges(FOLDED_TURNS + 1, turn - 1),
        ("user", question(turn)),
    ]
    assert len(dialect.conversation(request)) == KEEP_RECENT + 1 + 2 * (turn - SUMMARIZING_TURN)


def test_history_keeps_every_message_oldest_first_with_who_answered(
    held: tuple[Service, Conversation],
) -> None:
    service, talk = held
    history = service.get(f"/api/sessions/{talk.session_id}/history")
    messages = history["messages"]
    assert history["total"] == len(messages) == 2 * TURNS
    assert history["has_more"] is False
    assert history["summary"] == summary_text(provider_of(SUMMARIZING_TURN))
    assert [(m["role"], m["content"]) for m in messages] == exchanges(1, TURNS)
    for turn in range(1, TURNS + 1):
        asked, answered = messages[2 * turn - 2], messages[2 * turn - 1]
        provider = provider_of(turn)
        assert asked["provider"] is None and asked["cost"] is None
        assert (answered["provider"], answered["model"]) == (provider, DEFAULT_MODELS[provider])
        assert (answered["input_tokens"], answered["output_tokens"]) == (
            KNOWN_USAGE[provider].input_tokens,
            KNOWN_USAGE[provider].output_tokens,
        )
        assert answered["cost"] == pytest.approx(price_of_call(provider), abs=1e-12)
    timestamps = [m["timestamp"] for m in messages]
    assert timestamps == sorted(timestamps)


def test_session_metrics_are_the_sums_of_the_turns(held: tuple[Service, Conversation]) -> None:
    service, talk = held
    metrics = service.get(f"/api/sessions/{talk.session_id}/metrics")
    metas = [a["metadata"] for a in talk.answers.values()]
    assert metrics["message_count"] == 2 * TURNS
    assert sorted(metrics["providers_used"]) == sorted(PROVIDERS)
    assert metrics["total_tokens"] == sum(m["tokens_used"] + m["summary_tokens"] for m in metas)
    assert metrics["total_cost"] == pytest.approx(
        sum(m["cost_estimate"] + m["summary_cost"] for m in metas), abs=1e-12
    )
    assert metrics["summary_count"] == 1
    assert metrics["summary_tokens"] == sum(m["summary_tokens"] for m in metas)
    assert metrics["summary_cost"] == pytest.approx(
        sum(m["summary_cost"] for m in metas), abs=1e-12
    )
    turns = Counter(provider_of(t) for t in range(1, TURNS + 1))
    assert set(metrics["by_provider"]) == set(PROVIDERS)
    for provider, share in metrics["by_provider"].items():
        assert share["turns"] == turns[provider], provider
        assert share["tokens"] == turns[provider] * KNOWN_USAGE[provider].total_tokens
        assert share["cost"] == pytest.approx(turns[provider] * price_of_call(provider), abs=1e-12)


def test_global_metrics_count_every_call_of_every_provider(
    held: tuple[Service, Conversation],
) -> None:
    service, talk = held
    metrics = service.get("/api/metrics")
    assert metrics["sessions"]["total_created"] == 1
    providers = metrics["providers"]
    calls = Counter(provider_of(t) for t in range(1, TURNS + 1))
    calls[provider_of(SUMMARIZING_TURN)] += 1  # the summary call
    assert set(providers) == set(PROVIDERS)
    for provider, figures in providers.items():
        assert figures["requests"] == calls[provider], provider
        assert figures["success_rate"] == 1.0
        assert figures["tokens"] == calls[provider] * KNOWN_USAGE[provider].total_tokens
        assert figures["cost"] == pytest.approx(
            calls[provider] * price_of_call(provider), abs=1e-12
        )
    metas = [a["metadata"] for a in talk.answers.values()]
    assert sum(p["tokens"] for p in providers.values()) == sum(
        m["tokens_used"] + m["summary_tokens"] for m in metas
    )
