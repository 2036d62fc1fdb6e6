"""``POST /api/orchestrate`` with ``stream: true``, read the way ``curl -N`` reads it.

The reply must flow to the client while the upstream is still generating it, end with a
``done`` event carrying the whole response, and be stored exactly as streamed. A failure in
the middle of a stream ends it with an ``error`` event and stores nothing; a client that goes
away mid-stream leaves the partial reply stored, marked interrupted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fakes import anthropic_wire, openai_wire
from tests.fakes.upstream import Reply
from tests.integration.conftest import (
    DEFAULT_MODELS,
    DIALECTS,
    KNOWN_USAGE,
    PROVIDERS,
    Service,
    StartService,
    Upstreams,
    reply_text,
    usd,
)

#: A reply long enough that its stream takes a while when paced.
LONG_REPLY = "one two three four five six seven eight nine ten"


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]
    received_at: float  # time.monotonic() when the client had read it


def events_of(response: httpx.Response) -> Iterator[Event]:
    """Server-Sent Events as they arrive, each stamped with its arrival time."""
    name, data = "", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            yield Event(name, json.loads("\n".join(data)), time.monotonic())
            name, data = "", []


def stream_turn(
    service: Service, message: str, session_id: str | None = None, **agent: Any
) -> list[Event]:
    body = {"message": message, "session_id": session_id, "stream": True, "agent_config": agent}
    with service.http.stream("POST", "/api/orchestrate", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(events_of(response))


def paced(reply: Reply, delay_s: float) -> Reply:
    reply.chunk_delay_s = delay_s
    return reply


def history(service: Service, session_id: str) -> dict[str, Any]:
    return service.get(f"/api/sessions/{session_id}/history")


def wait_for_history(
    service: Service, session_id: str, *, total: int, within_s: float
) -> dict[str, Any]:
    """The session's history once it holds ``total`` messages (the session may not exist
    yet: a turn that creates it stores it only at its end)."""
    deadline = time.monotonic() + within_s
    while True:
        response = service.http.get(f"/api/sessions/{session_id}/history")
        if response.status_code == 200 and response.json()["total"] >= total:
            found: dict[str, Any] = response.json()
            return found
        assert time.monotonic() < deadline, f"no {total} messages stored within {within_s}s"
        time.sleep(0.05)


@pytest.fixture
def openai_only(start_service: StartService, upstreams: Upstreams) -> Service:
    return start_service(upstreams.env(("openai",)))


def test_a_stream_is_session_then_deltas_then_done_with_the_whole_response(
    openai_only: Service,
) -> None:
    events = stream_turn(openai_only, "Explain AI simply", provider="openai")

    names = [e.name for e in events]
    assert names[0] == "session" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) > 3
    session_id = events[0].data["session_id"]
    text = "".join(e.data["text"] for e in events if e.name == "delta")
    assert text == reply_text("openai", "Explain AI simply")
    done = events[-1].data
    assert (done["response"], done["session_id"], done["message_count"]) == (text, session_id, 2)
    assert (done["agent_used"], done["model_used"]) == ("openai", DEFAULT_MODELS["openai"])
    assert done["metadata"]["tokens_used"] == KNOWN_USAGE["openai"].total_tokens
    assert done["metadata"]["was_summarized"] is False
    assert done["metadata"]["request_id"]
    follow_up = stream_turn(openai_only, "And then?", session_id, provider="openai")
    assert follow_up[-1].data["message_count"] == 4


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_deltas_reach_the_client_before_the_upstream_finished_and_are_stored_whole(
    start_service: StartService, upstreams: Upstreams, provider: str
) -> None:
    service = start_service(upstreams.env((provider,)))
    fake = upstreams[provider]
    usage = KNOWN_USAGE[provider]
    fake.enqueue(paced(DIALECTS[provider].reply(LONG_REPLY, usage, stream=True), 0.1))

    events = stream_turn(service, "Count to ten", provider=provider)

    deltas = [e for e in events if e.name == "delta"]
    (upstream_finished,) = fake.sse_finished_at
    assert deltas[0].received_at < upstream_finished - 0.5, "the first delta waited for the end"
    assert len(deltas) >= 5
    text = "".join(e.data["text"] for e in deltas)
    assert text == LONG_REPLY
    done = events[-1].data
    assert done["response"] == LONG_REPLY
    stored = history(service, done["session_id"])["messages"]
    assert [m["content"] for m in stored] == ["Count to ten", LONG_REPLY]
    reply = stored[1]
    assert (reply["input_tokens"], reply["output_tokens"]) == (
        usage.input_tokens,
        usage.output_tokens,
    )
    assert reply["interrupted"] is False
    expected = usd(provider, done["model_used"], usage)
    assert reply["cost"] == pytest.approx(expected, abs=1e-12)
    assert done["metadata"]["cost_estimate"] == pytest.approx(expected, abs=1e-12)
    assert done["metadata"]["cached_input_tokens"] == usage.cached_input_tokens
    assert done["metadata"]["usage_estimated"] is False


def test_every_provider_streams_through_one_session(service: Service) -> None:
    session_id = None
    for number, provider in enumerate(PROVIDERS, start=1):
        question = f"stream {number}"
        events = stream_turn(service, question, session_id, provider=provider)
        assert (events[0].name, events[-1].name) == ("session", "done"), provider
        session_id = events[0].data["session_id"]
        deltas = [e.data["text"] for e in events if e.name == "delta"]
        assert len(deltas) > 1, provider
        assert "".join(deltas) == reply_text(provider, question) == events[-1].data["response"]
        assert events[-1].data["agent_used"] == provider
        assert events[-1].data["message_count"] == 2 * number
        assert events[-1].data["metadata"]["usage_estimated"] is False, provider
    assert session_id is not None
    stored = history(service, session_id)["messages"]
    assert [m["provider"] for m in stored[1::2]] == list(PROVIDERS)
    assert [m["content"] for m in stored[1::2]] == [
        reply_text(p, f"stream {n}") for n, p in enumerate(PROVIDERS, start=1)
    ]


PIECES = ["Half ", "an ", "answer"]


def openai_stream_failing() -> Reply:
    """The role chunk and two pieces, then an error event where the rest should be."""
    reply = openai_wire.stream_reply(PIECES)
    assert reply.sse is not None
    reply.sse[3:] = [{"error": {"message": "The server had an error", "type": "server_error"}}]
    return reply


def openai_stream_cut() -> Reply:
    """The role chunk and two pieces, then the body ends: no finish_reason, no ``[DONE]``."""
    reply = openai_wire.stream_reply(PIECES)
    assert reply.sse is not None
    del reply.sse[3:]
    return reply


def anthropic_stream_cut() -> Reply:
    """``message_start`` ... two text deltas, then the body ends: no ``message_stop``."""
    reply = anthropic_wire.stream(PIECES)
    assert reply.sse is not None
    del reply.sse[5:]
    return reply


@pytest.mark.parametrize(
    ("provider", "failing", "code"),
    [
        pytest.param("openai", openai_stream_failing, "provider_error", id="openai-error"),
        pytest.param(
            "openai",
            openai_stream_cut,
            "provider_unavailable",
            id="openai-cut",
        ),
        pytest.param(
            "anthropic",
            lambda: anthropic_wire.stream(PIECES, error_after=2),
            "provider_error",
            id="anthropic-error",
        ),
        pytest.param("anthropic", anthropic_stream_cut, "provider_unavailable", id="anthropic-cut"),
    ],
)
def test_an_upstream_failure_mid_stream_ends_with_an_error_event_and_stores_nothing(
    start_service: StartService,
    upstreams: Upstreams,
    provider: str,
    failing: Callable[[], Reply],
    code: str,
) -> None:
    service = start_service(upstreams.env((provider,)))
    session_id = service.turn("Before", provider=provider)["session_id"]
    before = history(service, session_id)
    upstreams[provider].enqueue(failing())

    events = stream_turn(service, "Fail halfway", session_id, provider=provider)

    assert [e.name for e in events] == ["session", "delta", "delta", "error"]
    assert "".join(e.data["text"] for e in events[1:3]) == "Half an "
    error = events[-1].data["error"]
    assert error["code"] == code
    assert error["details"]["provider"] == provider
    assert error["message"]
    assert history(service, session_id) == before
    assert service.get(f"/api/sessions/{session_id}")["message_count"] == 2
    assert service.turn("After", session_id, provider=provider)["message_count"] == 4


def test_a_client_leaving_mid_stream_leaves_the_partial_reply_stored_interrupted(
    openai_only: Service, upstreams: Upstreams
) -> None:
    fake = upstreams["openai"]
    fake.enqueue(
        paced(DIALECTS["openai"].reply(LONG_REPLY, KNOWN_USAGE["openai"], stream=True), 0.3)
    )
    body = {"message": "Talk slowly", "stream": True, "agent_config": {"provider": "openai"}}

    with openai_only.http.stream("POST", "/api/orchestrate", json=body) as response:
        events = events_of(response)
        session_id = next(events).data["session_id"]
        first = next(events)
    assert first.name == "delta"

    stored = wait_for_history(openai_only, session_id, total=2, within_s=3)
    question, partial = stored["messages"]
    assert question["content"] == "Talk slowly"
    assert partial["interrupted"] is True
    assert partial["content"].startswith(first.data["text"])
    assert LONG_REPLY.startswith(partial["content"]) and partial["content"] != LONG_REPLY
    assert stored["total"] == 2
    session = openai_only.get(f"/api/sessions/{session_id}")
    assert session["message_count"] == 2
    assert openai_only.turn("Go on", session_id, provider="openai")["message_count"] == 4
    assert fake.last.json["messages"] == [
        {"role": "user", "content": "Talk slowly"},
        {"role": "assistant", "content": partial["content"]},
        {"role": "user", "content": "Go on"},
    ]
