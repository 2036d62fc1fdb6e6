"""``WS /api/ws``: one turn path, two framings. A turn over the WebSocket stores the same
messages and ends with the same ``done`` payload as the same turn over SSE; bad frames get an
``error`` frame naming the problem and the socket stays usable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import Service, StartService, Upstreams
from tests.integration.test_streaming import history, stream_turn

#: Fields that differ between any two turns: ids, clocks and durations.
VARYING = {"session_id", "timestamp", "execution_time", "request_id"}


@pytest.fixture
def service(start_service: StartService, upstreams: Upstreams) -> Service:
    return start_service(upstreams.env(("openai", "anthropic")))


@pytest.fixture
def socket(service: Service) -> Iterator[ClientConnection]:
    with connect(service.url.replace("http", "ws") + "/api/ws", open_timeout=5) as ws:
        yield ws


def ws_turn(
    ws: ClientConnection, message: str, session_id: str | None = None, **agent: Any
) -> list[dict[str, Any]]:
    """The frames of one turn, up to its ``done`` or ``error``."""
    ws.send(
        json.dumps(
            {"type": "turn", "session_id": session_id, "message": message, "agent_config": agent}
        )
    )
    frames = []
    while True:
        frame = json.loads(ws.recv(timeout=10))
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


def _without(payload: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in payload.items() if k not in VARYING}
    kept["metadata"] = {k: v for k, v in payload["metadata"].items() if k not in VARYING}
    return kept


def _stored(service: Service, session_id: str) -> list[tuple[Any, ...]]:
    keys = ("role", "content", "provider", "model", "input_tokens", "output_tokens", "cost")
    return [tuple(m[k] for k in keys) for m in history(service, session_id)["messages"]]


def test_a_websocket_turn_equals_the_sse_turn(service: Service, socket: ClientConnection) -> None:
    for provider in ("openai", "anthropic"):
        sse = stream_turn(service, "Explain AI simply", provider=provider)
        frames = ws_turn(socket, "Explain AI simply", provider=provider)

        assert frames[0]["type"] == "session"
        assert {f["type"] for f in frames[1:-1]} == {"delta"}
        assert sse[0].name == "session" and sse[-1].name == "done"
        done = {k: v for k, v in frames[-1].items() if k != "type"}
        assert frames[-1]["type"] == "done"
        assert "".join(f["text"] for f in frames if f["type"] == "delta") == done["response"]
        assert _without(done) == _without(sse[-1].data)
        assert done["session_id"] == frames[0]["session_id"]
        assert _stored(service, done["session_id"]) == _stored(service, sse[-1].data["session_id"])

        follow_up = ws_turn(socket, "And then?", done["session_id"], provider=provider)
        assert follow_up[-1]["message_count"] == 4


def test_auth_frame_and_bearer_subprotocol_are_accepted(service: Service) -> None:
    url = service.url.replace("http", "ws") + "/api/ws"
    with connect(url, subprotocols=["bearer", "any-token"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "bearer"
        assert ws_turn(ws, "hi", provider="openai")[-1]["type"] == "done"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "auth", "token": "any-token"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "ready"}
        assert ws_turn(ws, "hi", provider="openai")[-1]["type"] == "done"


@pytest.mark.parametrize(
    ("frame", "code", "named"),
    [
        ("not json", "invalid_request", "JSON"),
        ('{"type": "turn", "message": "hi", "n": NaN}', "invalid_request", "NaN is not a finite"),
        (json.dumps({"type": "dance"}), "invalid_request", "type"),
        (json.dumps([1, 2]), "invalid_request", "type"),
        (json.dumps({"type": "turn", "message": ""}), "validation_error", "message"),
        (json.dumps({"type": "turn", "message": "hi", "colour": 1}), "validation_error", "colour"),
        (json.dumps({"type": "turn", "message": "x" * 200_000}), "payload_too_large", "message"),
        (
            json.dumps({"type": "turn", "message": "hi", "session_id": "sess_nope"}),
            "session_not_found",
            "sess_nope",
        ),
        (
            json.dumps({"type": "turn", "message": "hi", "agent_config": {"provider": "gemini"}}),
            "provider_not_configured",
            "gemini",
        ),
    ],
)
def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(
    socket: ClientConnection, frame: str, code: str, named: str
) -> None:
    socket.send(frame)
    answer = json.loads(socket.recv(timeout=10))
    assert answer["type"] == "error"
    assert answer["error"]["code"] == code
    assert named in answer["error"]["message"] + json.dumps(answer["error"]["details"])
    assert ws_turn(socket, "still there?", provider="openai")[-1]["type"] == "done"


def test_a_provider_failure_mid_turn_is_an_error_frame(
    service: Service,
    socket: ClientConnection,
    upstreams: Upstreams,
) -> None:
    from tests.fakes.upstream import Reply

    upstreams["openai"].enqueue(Reply(status=500, body={"error": {"message": "down"}}))
    frames = ws_turn(socket, "hi", provider="openai")
    assert frames[-1]["type"] == "error"
    assert frames[-1]["error"]["code"] == "provider_error"
