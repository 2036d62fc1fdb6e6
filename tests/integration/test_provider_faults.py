"""Provider faults as a client sees them over HTTP: the mapped status, and nothing stored but
the failed call."""

from __future__ import annotations

import pytest

from tests.fakes import anthropic_wire, gemini_wire, openai_wire
from tests.fakes.upstream import Reply
from tests.integration.conftest import Service, StartService, Upstreams


def new_session(service: Service) -> str:
    created = service.http.post("/api/sessions", json={})
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    return session_id


def assert_only_the_failed_call_was_stored(
    service: Service, session_id: str, provider: str
) -> None:
    history = service.get(f"/api/sessions/{session_id}/history")
    assert history["messages"] == []
    calls = service.get("/api/metrics")["providers"][provider]
    assert (calls["requests"], calls["success_rate"]) == (1, 0.0)


def test_an_upstream_503_answers_503_with_the_upstreams_retry_after(
    start_service: StartService, upstreams: Upstreams
) -> None:
    service = start_service(upstreams.env(("openai",)))
    upstreams["openai"].enqueue(openai_wire.error_reply(503, "overloaded", retry_after="7"))

    response = service.http.post(
        "/api/orchestrate", json={"message": "Hi", "agent_config": {"provider": "openai"}}
    )

    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "provider_unavailable"


@pytest.mark.parametrize(
    ("provider", "unreadable"),
    [
        ("anthropic", Reply(body={"unexpected": "body"})),
        ("gemini", Reply(body={"unexpected": "body"})),
        ("anthropic", anthropic_wire.message("")),
        ("gemini", gemini_wire.response("")),
    ],
    ids=["anthropic-shape", "gemini-shape", "anthropic-empty", "gemini-empty"],
)
def test_an_unreadable_or_empty_reply_is_502_and_only_the_failed_call_is_stored(
    start_service: StartService, upstreams: Upstreams, provider: str, unreadable: Reply
) -> None:
    service = start_service(upstreams.env((provider,)), default_provider=provider)
    session_id = new_session(service)
    upstreams[provider].enqueue(unreadable)

    response = service.http.post(
        "/api/orchestrate", json={"message": "Hi", "session_id": session_id}
    )

    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "provider_error"
    assert_only_the_failed_call_was_stored(service, session_id, provider)


def test_grok_refusing_a_request_says_why(
    start_service: StartService, upstreams: Upstreams
) -> None:
    service = start_service(upstreams.env(("grok",)), default_provider="grok")
    said = "Model grok-9 does not exist or your team does not have access to it."
    upstreams["grok"].enqueue(openai_wire.xai_error_reply(400, said))

    response = service.http.post("/api/orchestrate", json={"message": "Hi"})

    assert response.status_code == 400, response.text
    assert said in response.json()["error"]["message"]
