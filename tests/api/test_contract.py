"""The HTTP contract of SPEC §3, over HTTP, with the domain on in-memory fakes."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from src.api import routes
from src.api.json_body import JsonRoute
from src.domain.errors import (
    ProviderRateLimited,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderTimeout,
)
from tests.api.conftest import Harness


def assert_envelope(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert response.headers["x-request-id"]
    return body["error"]


async def test_orchestrate_creates_a_session_and_answers_the_spec_shape(api: Harness) -> None:
    r = await api.client.post("/api/orchestrate", json={"message": "Explain AI simply"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["response"] == "reply to: Explain AI simply"
    assert body["agent_used"] == "fake" and body["model_used"] == "fake-1"
    assert body["message_count"] == 2
    assert body["timestamp"].endswith("Z") or body["timestamp"].endswith("+00:00")
    meta = body["metadata"]
    assert meta["tokens_used"] == meta["input_tokens"] + meta["output_tokens"] == 17
    assert meta["cached_input_tokens"] == 2
    assert meta["cost_estimate"] == pytest.approx(0.0000925)
    assert meta["usage_estimated"] is False and meta["was_summarized"] is False
    assert meta["summary_tokens"] == 0 and meta["summary_cost"] == 0.0
    assert meta["request_id"] == r.headers["x-request-id"]


async def test_request_id_is_echoed_when_the_client_sends_one(api: Harness) -> None:
    r = await api.client.get("/api/health/live", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


async def test_session_lifecycle_history_and_metrics(api: Harness) -> None:
    r = await api.client.post(
        "/api/sessions",
        json={"user_id": "user_123", "metadata": {"a": 1}, "system_prompt": "be kind"},
    )
    assert r.status_code == 201
    session = r.json()
    assert (
        session["status"] == "active"
        and session["message_count"] == 0
        and session["summary"] is None
    )
    sid = session["session_id"]
    for i in range(3):
        r = await api.client.post("/api/orchestrate", json={"message": f"q{i}", "session_id": sid})
        assert r.json()["message_count"] == 2 * (i + 1)
    assert api.provider.requests[-1].messages[0].content == "be kind"
    r = await api.client.get(f"/api/sessions/{sid}/history", params={"limit": 4})
    history = r.json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"] * 2
    assert history["total"] == 6 and history["has_more"] is True
    assistant = history["messages"][1]
    assert (
        assistant["provider"] == "fake" and assistant["input_tokens"] > 0 and assistant["cost"] > 0
    )
    assert history["messages"][0]["provider"] is None
    r = await api.client.get(f"/api/sessions/{sid}/metrics")
    metrics = r.json()
    assert metrics["message_count"] == 6 and metrics["providers_used"] == ["fake"]
    assert metrics["by_provider"]["fake"]["turns"] == 3
    assert metrics["total_tokens"] == metrics["input_tokens"] + metrics["output_tokens"]
    listed = (await api.client.get("/api/sessions", params={"user_id": "user_123"})).json()
    assert [s["session_id"] for s in listed["sessions"]] == [sid] and listed["total"] == 1
    assert (await api.client.get(f"/api/sessions/{sid}")).json()["message_count"] == 6
    assert (await api.client.delete(f"/api/sessions/{sid}")).status_code == 204
    assert_envelope(await api.client.get(f"/api/sessions/{sid}"), 404, "session_not_found")


async def test_global_metrics_and_prometheus_text(api: Harness) -> None:
    await api.client.post("/api/orchestrate", json={"message": "hi"})
    body = (await api.client.get("/api/metrics")).json()
    assert body["system"]["requests_total"] >= 1
    assert (
        body["providers"]["fake"]["requests"] == 1
        and body["providers"]["fake"]["success_rate"] == 1.0
    )
    assert body["sessions"]["total_created"] == 1
    r = await api.client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    labels = 'kind="turn",model="fake-1",provider="fake"'
    assert f'orchestrator_tokens_total{{{labels},type="output"}}' in r.text
    assert "orchestrator_http_requests_total" in r.text


async def test_health_providers_and_probes(api: Harness) -> None:
    health = (await api.client.get("/api/health")).json()
    assert health["status"] == "healthy" and health["providers_status"] == {
        "fake": True,
        "absent": False,
    }
    api.catalog.unhealthy.add("fake")
    assert (await api.client.get("/api/health")).json()["status"] == "degraded"
    providers = (await api.client.get("/api/providers")).json()["providers"]
    assert {p["name"]: p["is_configured"] for p in providers} == {"fake": True, "absent": False}
    assert (await api.client.get("/api/health/ready")).status_code == 200
    api.services.lifecycle.draining = True
    r = await api.client.get("/api/health/ready")
    assert r.status_code == 503 and r.json()["checks"]["accepting_turns"] is False
    assert (await api.client.get("/api/health/live")).status_code == 200
    assert_envelope(
        await api.client.post("/api/orchestrate", json={"message": "x"}), 503, "service_unavailable"
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"message": 5}, "message"),
        ({}, "message"),
        ({"message": "  "}, "message"),
        (
            {"message": "x", "agent_config": {"provider": "fake", "temprature": 1}},
            "agent_config.temprature",
        ),
        ({"message": "x", "agent_config": {"temperature": 9}}, "agent_config.temperature"),
        ({"message": "x", "agent_config": {"fallbacks": ["openai:"]}}, "agent_config.fallbacks"),
        ({"message": "x", "stream": "maybe"}, "stream"),
    ],
)
async def test_bad_input_is_422_naming_the_field(api: Harness, payload: dict, field: str) -> None:
    error = assert_envelope(
        await api.client.post("/api/orchestrate", json=payload), 422, "validation_error"
    )
    assert field in error["message"]
    assert error["details"]["errors"][0]["field"] == field


async def test_malformed_json_is_422_not_500(api: Harness) -> None:
    r = await api.client.post(
        "/api/orchestrate", content=b'{"message": ', headers={"content-type": "application/json"}
    )
    error = assert_envelope(r, 422, "validation_error")
    assert "not valid JSON" in error["message"]
    assert error["details"]["errors"][0]["field"] == "body"  # not the character offset


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e400"])
@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        (
            "/api/orchestrate",
            422,
            '{"message": "hi", "agent_config": {"tools": [{"type": "function", "function":'
            ' {"name": "f", "parameters": {"type": "object", "maximum": %s}}}]}}',
        ),
        (
            "/v1/chat/completions",
            400,
            '{"model": "fake", "messages": [{"role": "user", "content": "hi"}], "top_p": %s}',
        ),
        ("/api/sessions", 422, '{"metadata": {"score": %s}}'),
    ],
)
async def test_a_number_json_cannot_carry_is_refused_and_nothing_is_called_or_stored(
    api: Harness, path: str, status: int, body: str, number: str
) -> None:
    """Python's decoder reads these; JSON, the providers and PostgreSQL's JSON columns do not.
    (``/v1`` answers its invalid requests with 400, as OpenAI does.)"""
    r = await api.client.post(
        path, content=(body % number).encode(), headers={"content-type": "application/json"}
    )

    assert r.status_code == status
    assert f"{number} is not a finite number" in r.text
    assert api.provider.requests == []
    assert api.store.data.sessions == {}


def test_every_route_that_reads_a_body_refuses_what_json_cannot_carry() -> None:
    modules = [
        importlib.import_module(f"src.api.routes.{m.name}")
        for m in pkgutil.iter_modules(routes.__path__)
    ]
    routers = [r for m in modules for r in vars(m).values() if isinstance(r, APIRouter)]
    with_body = [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.body_field is not None
    ]

    assert len(with_body) >= 5
    assert [r.path for r in with_body if not isinstance(r, JsonRoute)] == []


async def test_oversized_message_is_413_and_stores_nothing(api: Harness) -> None:
    r = await api.client.post("/api/orchestrate", json={"message": "x" * 1001})
    error = assert_envelope(r, 413, "payload_too_large")
    assert "MAX_MESSAGE_CHARS" in error["message"] and error["details"]["field"] == "message"
    r = await api.client.post(
        "/api/orchestrate", content=b"x" * 200_000, headers={"content-type": "application/json"}
    )
    assert_envelope(r, 413, "payload_too_large")
    assert api.store.data.sessions == {}


async def test_unknown_session_unconfigured_and_unknown_provider(api: Harness) -> None:
    assert_envelope(
        await api.client.post("/api/orchestrate", json={"message": "x", "session_id": "sess_nope"}),
        404,
        "session_not_found",
    )
    error = assert_envelope(
        await api.client.post(
            "/api/orchestrate", json={"message": "x", "agent_config": {"provider": "absent"}}
        ),
        503,
        "provider_not_configured",
    )
    assert "ABSENT_API_KEY" in error["message"]
    assert_envelope(
        await api.client.post(
            "/api/orchestrate", json={"message": "x", "agent_config": {"provider": "zzz"}}
        ),
        400,
        "invalid_request",
    )


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            ProviderRateLimited("fake", "slow down", status=429, retry_after=7),
            503,
            "provider_unavailable",
        ),
        (ProviderServerError("fake", "upstream 500", status=500), 502, "provider_error"),
        (ProviderTimeout("fake", "timed out"), 504, "provider_timeout"),
        (ProviderRejectedRequest("fake", "unknown model", status=404), 400, "invalid_request"),
    ],
)
async def test_provider_failures_map_to_their_codes(
    api: Harness, error: Exception, status: int, code: str
) -> None:
    api.provider.queue.append(error)  # type: ignore[arg-type]
    r = await api.client.post("/api/orchestrate", json={"message": "x"})
    assert_envelope(r, status, code)
    if code == "provider_unavailable":
        assert r.headers["retry-after"] == "7"


async def test_session_busy_is_409(api: Harness) -> None:
    sid = (await api.client.post("/api/sessions", json={})).json()["session_id"]
    api.provider.delay_s = 0.5
    first = asyncio.create_task(
        api.client.post("/api/orchestrate", json={"message": "a", "session_id": sid})
    )
    await asyncio.sleep(0.05)
    r = await api.client.post("/api/orchestrate", json={"message": "b", "session_id": sid})
    assert_envelope(r, 409, "session_busy")
    assert (await first).status_code == 200


async def test_idempotency_key_replays_and_conflicts(api: Harness) -> None:
    headers = {"Idempotency-Key": "abc"}
    a = await api.client.post("/api/orchestrate", json={"message": "once"}, headers=headers)
    b = await api.client.post("/api/orchestrate", json={"message": "once"}, headers=headers)
    assert (
        a.json()["response"] == b.json()["response"]
        and a.json()["session_id"] == b.json()["session_id"]
    )
    assert len(api.provider.requests) == 1
    r = await api.client.post("/api/orchestrate", json={"message": "other"}, headers=headers)
    assert_envelope(r, 409, "idempotency_conflict")


async def test_an_idempotency_key_past_255_characters_is_refused_before_any_call(
    api: Harness,
) -> None:
    sessions = (await api.client.get("/api/sessions")).json()["total"]
    too_long = {"Idempotency-Key": "k" * 256}
    r = await api.client.post("/api/orchestrate", json={"message": "once"}, headers=too_long)
    problem = assert_envelope(r, 422, "validation_error")["details"]["errors"][0]
    assert problem["field"] == "Idempotency-Key" and problem["type"] == "string_too_long"
    assert "at most 255 characters" in problem["message"]
    assert api.provider.requests == []
    assert (await api.client.get("/api/sessions")).json()["total"] == sessions
    longest = {"Idempotency-Key": "k" * 255}
    first = await api.client.post("/api/orchestrate", json={"message": "once"}, headers=longest)
    again = await api.client.post("/api/orchestrate", json={"message": "once"}, headers=longest)
    assert first.status_code == again.status_code == 200
    assert first.json()["session_id"] == again.json()["session_id"]
    assert len(api.provider.requests) == 1
    spec = (await api.client.get("/openapi.json")).json()
    (header,) = spec["paths"]["/api/orchestrate"]["post"]["parameters"]
    assert (header["name"], header["in"], header["required"]) == (
        "Idempotency-Key",
        "header",
        False,
    )
    assert {"type": "string", "maxLength": 255} in header["schema"]["anyOf"]


async def test_streaming_answers_server_sent_events(api: Harness) -> None:
    async with api.client.stream(
        "POST", "/api/orchestrate", json={"message": "stream", "stream": True}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join([chunk async for chunk in r.aiter_text()])
    events = [block.split("\n", 1) for block in text.strip().split("\n\n")]
    names = [e[0].removeprefix("event: ") for e in events]
    assert names[0] == "session" and names[-1] == "done" and "delta" in names
    data = [json.loads(e[1].removeprefix("data: ")) for e in events]
    assert (
        "".join(d["text"] for n, d in zip(names, data, strict=True) if n == "delta")
        == "reply to: stream"
    )
    assert data[-1]["message_count"] == 2 and data[-1]["session_id"] == data[0]["session_id"]


async def test_streaming_errors_up_front_keep_their_status(api: Harness) -> None:
    r = await api.client.post(
        "/api/orchestrate", json={"message": "x", "stream": True, "session_id": "sess_nope"}
    )
    assert_envelope(r, 404, "session_not_found")


async def test_streaming_error_mid_stream_is_an_error_event(api: Harness) -> None:
    api.provider.fail_mid_stream = (1, ProviderServerError("fake", "boom", status=500))
    async with api.client.stream(
        "POST", "/api/orchestrate", json={"message": "x", "stream": True}
    ) as r:
        assert r.status_code == 200
        text = "".join([chunk async for chunk in r.aiter_text()])
    assert "event: delta" in text
    assert "event: error" in text and '"provider_error"' in text
    assert api.store.data.sessions == {}


async def test_streaming_error_before_the_first_token_keeps_its_status(api: Harness) -> None:
    """Nothing was sent yet, so the client gets the mapped status and envelope, not a 200."""
    api.provider.queue.append(ProviderServerError("fake", "boom", status=500))
    r = await api.client.post("/api/orchestrate", json={"message": "x", "stream": True})
    assert_envelope(r, 502, "provider_error")
    assert api.store.data.sessions == {}


async def test_unknown_route_and_openapi_docs(api: Harness) -> None:
    assert_envelope(await api.client.get("/api/nothing"), 404, "not_found")
    spec = (await api.client.get("/openapi.json")).json()
    assert (
        "/api/orchestrate" in spec["paths"]
        and "/api/sessions/{session_id}/history" in spec["paths"]
    )
    example = spec["components"]["schemas"]["OrchestrateRequest"]["examples"][0]
    assert example["message"] == "Explain AI simply"
    assert (await api.client.get("/docs")).status_code == 200
    assert (await api.client.get("/redoc")).status_code == 200


async def test_an_unexpected_error_is_a_bare_500_and_no_traceback_is_logged(
    api: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(_: object) -> object:
        raise RuntimeError("secret sk-live-123 in a message")

    api.provider.script = explode  # type: ignore[assignment]
    with caplog.at_level("DEBUG"):
        r = await api.client.post("/api/orchestrate", json={"message": "x"})
    error = assert_envelope(r, 500, "internal_error")
    assert "sk-live" not in r.text and error["message"] == "an internal error occurred"
    assert "RuntimeError" in caplog.text
    assert "sk-live" not in caplog.text and "Traceback" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
