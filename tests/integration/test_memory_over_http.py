"""Session memory (SPEC §4) over HTTP, with OpenAI as the only provider.

A session with a system prompt is held for 11 turns: the 11th folds messages 1..14 into a
summary and must send OpenAI exactly the system prompt, the summary, the last 6 messages and
the new one. The session, its history and its memory survive a restart of the service on the
same database. Without any key the service still starts and says which variable to set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from src.domain.memory import SUMMARY_HEADER
from tests.integration.conftest import (
    KNOWN_USAGE,
    PROVIDERS,
    Service,
    StartService,
    Upstreams,
    is_summary_request,
    reply_text,
    serving,
    summary_text,
)

SYSTEM_PROMPT = "You are a patient tutor."
SUMMARY = SUMMARY_HEADER + summary_text("openai")
TURNS = 11
KEEP_RECENT = 6


def question(turn: int) -> str:
    return f"question {turn}"


def wire_exchange(turn: int) -> list[dict[str, str]]:
    """Turn ``turn``'s two messages as OpenAI's ``messages`` carry them."""
    return [
        {"role": "user", "content": question(turn)},
        {"role": "assistant", "content": reply_text("openai", question(turn))},
    ]


def hold_conversation(service: Service, turns: int) -> tuple[str, list[dict[str, Any]]]:
    """Creates a session with a system prompt and holds ``turns`` turns on it."""
    created = service.http.post(
        "/api/sessions",
        json={"user_id": "user_123", "metadata": {"plan": "pro"}, "system_prompt": SYSTEM_PROMPT},
    )
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    answers = [service.turn(question(t), session_id) for t in range(1, turns + 1)]
    return session_id, answers


def turn_requests(upstreams: Upstreams) -> list[Any]:
    """The bodies of the turn requests OpenAI received, oldest first (summaries apart)."""
    return [r.json for r in upstreams["openai"].received if not is_summary_request(r)]


@pytest.fixture(scope="module")
def held(
    tmp_path_factory: pytest.TempPathFactory, upstreams: Upstreams
) -> Iterator[tuple[Service, str, list[dict[str, Any]], list[Any]]]:
    upstreams.reset()
    database = tmp_path_factory.mktemp("memory") / "db.sqlite"
    with serving(database, upstreams.env(("openai",))) as service:
        session_id, answers = hold_conversation(service, TURNS)
        yield service, session_id, answers, turn_requests(upstreams)


def test_the_eleventh_turn_sends_prompt_summary_last_six_and_the_new_message(
    held: tuple[Service, str, list[dict[str, Any]], list[Any]],
) -> None:
    _, _, _, requests = held
    assert len(requests) == TURNS
    assert requests[-1]["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "system", "content": SUMMARY},
        *wire_exchange(8),
        *wire_exchange(9),
        *wire_exchange(10),
        {"role": "user", "content": question(11)},
    ]
    assert len(requests[-1]["messages"]) == 2 + KEEP_RECENT + 1
    # Before the threshold every turn carried the prompt and the whole conversation.
    assert requests[-2]["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        *(m for t in range(1, 10) for m in wire_exchange(t)),
        {"role": "user", "content": question(10)},
    ]


def test_only_the_eleventh_turn_reports_the_summarization(
    held: tuple[Service, str, list[dict[str, Any]], list[Any]],
) -> None:
    _, _, answers, _ = held
    assert [a["metadata"]["was_summarized"] for a in answers] == [False] * 10 + [True]
    eleventh = answers[-1]["metadata"]
    assert eleventh["summary_tokens"] == KNOWN_USAGE["openai"].total_tokens > 0
    assert eleventh["summary_cost"] > 0
    assert all(a["metadata"]["summary_tokens"] == 0 for a in answers[:-1])
    assert answers[-1]["response"] == reply_text("openai", question(11))
    assert answers[-1]["message_count"] == 2 * TURNS


def test_history_keeps_every_message_and_shows_the_summary(
    held: tuple[Service, str, list[dict[str, Any]], list[Any]],
) -> None:
    service, session_id, _, _ = held
    history = service.get(f"/api/sessions/{session_id}/history")
    assert history["total"] == len(history["messages"]) == 2 * TURNS
    assert history["summary"] == summary_text("openai")
    assert [{"role": m["role"], "content": m["content"]} for m in history["messages"]] == [
        m for t in range(1, TURNS + 1) for m in wire_exchange(t)
    ]
    page = service.get(f"/api/sessions/{session_id}/history?limit=4&offset=20")
    assert [m["content"] for m in page["messages"]] == [
        question(11),
        reply_text("openai", question(11)),
    ]
    assert page["total"] == 2 * TURNS and page["has_more"] is False


def test_metrics_totals_are_the_sums_of_the_turns(
    held: tuple[Service, str, list[dict[str, Any]], list[Any]],
) -> None:
    service, session_id, answers, _ = held
    metrics = service.get(f"/api/sessions/{session_id}/metrics")
    metas = [a["metadata"] for a in answers]
    assert metrics["message_count"] == 2 * TURNS
    assert metrics["providers_used"] == ["openai"]
    assert metrics["by_provider"]["openai"]["turns"] == TURNS
    assert metrics["total_tokens"] == sum(m["tokens_used"] + m["summary_tokens"] for m in metas)
    assert metrics["input_tokens"] + metrics["output_tokens"] == metrics["total_tokens"]
    assert metrics["total_cost"] == pytest.approx(
        sum(m["cost_estimate"] + m["summary_cost"] for m in metas), abs=1e-12
    )
    assert (metrics["summary_count"], metrics["summary_tokens"]) == (1, metas[-1]["summary_tokens"])
    assert metrics["last_summary_at"] is not None


def test_the_session_and_its_memory_survive_a_restart(
    start_service: StartService, upstreams: Upstreams
) -> None:
    env = upstreams.env(("openai",))
    first = start_service(env)
    session_id, _ = hold_conversation(first, TURNS)
    stored = first.get(f"/api/sessions/{session_id}")
    history = first.get(f"/api/sessions/{session_id}/history")
    metrics = first.get(f"/api/sessions/{session_id}/metrics")
    first.stop()

    second = start_service(env)
    assert second.get(f"/api/sessions/{session_id}") == stored
    assert stored["message_count"] == 2 * TURNS
    assert (stored["user_id"], stored["metadata"]) == ("user_123", {"plan": "pro"})
    assert (stored["system_prompt"], stored["summary"]) == (SYSTEM_PROMPT, summary_text("openai"))
    assert second.get(f"/api/sessions/{session_id}/history") == history
    assert second.get(f"/api/sessions/{session_id}/metrics") == metrics

    answer = second.turn(question(12), session_id)
    assert answer["message_count"] == 2 * (TURNS + 1)
    assert answer["metadata"]["was_summarized"] is False
    assert upstreams["openai"].last.json["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "system", "content": SUMMARY},
        *(m for t in range(8, 12) for m in wire_exchange(t)),
        {"role": "user", "content": question(12)},
    ]


def test_without_any_key_the_service_starts_and_names_the_variable_to_set(
    start_service: StartService, upstreams: Upstreams
) -> None:
    service = start_service(env={})

    assert service.http.get("/api/health/ready").status_code == 200
    providers = service.get("/api/providers")["providers"]
    assert {p["name"] for p in providers} >= set(PROVIDERS)
    assert [p["name"] for p in providers if p["is_configured"]] == []

    response = service.http.post("/api/orchestrate", json={"message": "Explain AI simply"})
    assert response.status_code == 503
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert error["code"] == "provider_not_configured"
    assert "OPENAI_API_KEY" in error["message"]
    assert error["details"]["variable"] == "OPENAI_API_KEY"
    assert service.get("/api/sessions")["total"] == 0
    assert all(not fake.received for fake in upstreams.fakes.values())
