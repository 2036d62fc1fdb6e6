"""One tenant never sees another's sessions, on every route that takes a session id.

The routes are read from the application's own OpenAPI description: any route with a
``session_id`` path, query or header parameter, or a body with a ``session_id`` field, counts. A route that takes a
session id and is missing from ``REQUESTS`` below fails ``test_every_route_taking_a_session_id_is_tested``,
so a new route cannot ship without its tenant check being tested.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import Secured

UNKNOWN = "sess_" + "0" * 32

# (method, path template) -> how to send the session id (None: in the path, no body).
REQUESTS: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/api/sessions/{session_id}"): None,
    ("DELETE", "/api/sessions/{session_id}"): None,
    ("GET", "/api/sessions/{session_id}/history"): None,
    ("GET", "/api/sessions/{session_id}/metrics"): None,
    ("GET", "/api/metrics/sessions/{session_id}/trail"): None,
    ("POST", "/api/orchestrate"): {"json": {"message": "hi", "session_id": "{id}"}},
    ("POST", "/v1/chat/completions"): {
        "json": {"model": "fake", "messages": [{"role": "user", "content": "hi"}]},
        "headers": {"X-Session-Id": "{id}"},
    },
}


def routes_taking_a_session_id(app: Any) -> set[tuple[str, str]]:
    """From the OpenAPI description the app serves: a parameter (path, query or header) or a
    JSON body property whose name ends in ``session_id`` / ``Session-Id``."""
    schema = app.openapi()
    components = schema.get("components", {}).get("schemas", {})

    def body_fields(operation: dict[str, Any]) -> set[str]:
        content = operation.get("requestBody", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        return set(components.get(ref.rpartition("/")[2], {}).get("properties", {}))

    found = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", [])} | body_fields(operation)
            if any(n.lower().replace("-", "_").endswith("session_id") for n in names):
                found.add((method.upper(), path))
    return found


def _filled(value: Any, session_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _filled(v, session_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, session_id) for v in value]
    return session_id if value == "{id}" else value


def _request(method: str, path: str, session_id: str) -> dict[str, Any]:
    spec = REQUESTS[(method, path)] or {}
    url = path.replace("{session_id}", session_id)
    return {"method": method, "url": url, **_filled(spec, session_id)}


def test_every_route_taking_a_session_id_is_tested(secured: Secured) -> None:
    found = routes_taking_a_session_id(secured.transport.app)
    assert len(found) >= len(REQUESTS)
    missing = found - set(REQUESTS)
    assert not missing, f"add these routes to REQUESTS with their tenant check: {missing}"


@pytest.mark.parametrize(("method", "path"), sorted(REQUESTS))
async def test_another_tenants_session_answers_exactly_like_an_unknown_one(
    secured: Secured, method: str, path: str
) -> None:
    alice = await secured.key(tenant="alice")
    bob = await secured.key(tenant="bob")
    created = await alice.post("/api/orchestrate", json={"message": "alice's secret plan"})
    session_id = created.json()["session_id"]
    calls_before = len(secured.provider.requests)

    foreign = await bob.request(**_request(method, path, session_id))
    unknown = await bob.request(**_request(method, path, UNKNOWN))

    assert foreign.status_code == unknown.status_code == 404, foreign.text
    assert foreign.text.replace(session_id, UNKNOWN) == unknown.text
    assert len(secured.provider.requests) == calls_before  # no provider call for bob
    history = await alice.get(f"/api/sessions/{session_id}/history")
    assert history.status_code == 200
    assert history.json()["messages"][0]["content"] == "alice's secret plan"
    assert history.json()["total"] == 2


async def test_lists_and_metrics_show_only_the_callers_tenant(secured: Secured) -> None:
    alice = await secured.key(tenant="alice")
    bob = await secured.key(tenant="bob")
    mine = (await alice.post("/api/orchestrate", json={"message": "a"})).json()["session_id"]
    theirs = (await bob.post("/api/orchestrate", json={"message": "b"})).json()["session_id"]
    await bob.post("/api/orchestrate", json={"message": "b2", "session_id": theirs})

    listed = (await alice.get("/api/sessions")).json()
    assert [s["session_id"] for s in listed["sessions"]] == [mine]
    assert listed["total"] == 1
    alice_metrics = (await alice.get("/api/metrics")).json()
    bob_metrics = (await bob.get("/api/metrics")).json()
    assert alice_metrics["sessions"]["total_created"] == 1
    assert alice_metrics["providers"]["fake"]["requests"] == 1
    assert bob_metrics["providers"]["fake"]["requests"] == 2
    assert (await alice.get("/api/metrics", params={"tenant": "bob"})).status_code == 403

    admin_all = (await secured.admin.get("/api/metrics")).json()
    admin_bob = (await secured.admin.get("/api/metrics", params={"tenant": "bob"})).json()
    assert admin_all["providers"]["fake"]["requests"] == 3
    assert admin_bob == bob_metrics | {"system": admin_bob["system"]}
    every = (await secured.admin.get("/api/sessions")).json()
    assert {s["session_id"] for s in every["sessions"]} == {mine, theirs}
    only_bob = (await secured.admin.get("/api/sessions", params={"tenant": "bob"})).json()
    assert [s["session_id"] for s in only_bob["sessions"]] == [theirs]


async def test_the_admin_reads_any_tenants_session(secured: Secured) -> None:
    alice = await secured.key(tenant="alice")
    session_id = (await alice.post("/api/orchestrate", json={"message": "a"})).json()["session_id"]
    assert (await secured.admin.get(f"/api/sessions/{session_id}/history")).status_code == 200
    assert (await secured.admin.delete(f"/api/sessions/{session_id}")).status_code == 204
    assert (await alice.get(f"/api/sessions/{session_id}")).status_code == 404


async def test_idempotency_keys_are_scoped_per_tenant(secured: Secured) -> None:
    alice = await secured.key(tenant="alice")
    bob = await secured.key(tenant="bob")
    headers = {"Idempotency-Key": "order-42"}
    first = await alice.post("/api/orchestrate", json={"message": "same"}, headers=headers)
    replay = await alice.post("/api/orchestrate", json={"message": "same"}, headers=headers)
    other = await bob.post("/api/orchestrate", json={"message": "same"}, headers=headers)

    assert first.json()["session_id"] == replay.json()["session_id"]
    assert other.status_code == 200
    assert other.json()["session_id"] != first.json()["session_id"]
    assert len(secured.provider.requests) == 2  # alice once, bob once


async def test_call_records_keep_the_key_and_tenant(secured: Secured) -> None:
    issued = await secured.issue(tenant="alice")
    alice = secured.client(issued["key"])
    await alice.post("/api/orchestrate", json={"message": "a"})
    await alice.post(
        "/v1/chat/completions",
        json={"model": "fake", "messages": [{"role": "user", "content": "stateless"}]},
    )

    calls = secured.store.data.calls
    assert [(c.tenant, c.key_id) for c in calls] == [("alice", issued["id"])] * 2
