"""Credentials: who gets in, who gets 401/403, and what a key's lifecycle looks like."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.auth.conftest import ADMIN_KEY, Secured

PUBLIC = {
    "/api/health",
    "/api/health/live",
    "/api/health/ready",
    "/docs",
    "/redoc",
    "/openapi.json",
}


def _operations(app: Any) -> list[tuple[str, str]]:
    schema = app.openapi()
    return sorted(
        (method.upper(), path.replace("{session_id}", "sess_x").replace("{key_id}", "key_x"))
        for path, operations in schema["paths"].items()
        for method in operations
    )


async def test_every_route_but_health_and_docs_needs_a_credential(secured: Secured) -> None:
    anonymous = secured.client()
    operations = _operations(secured.transport.app)
    assert len(operations) > 10
    for method, path in operations:
        response = await anonymous.request(method, path)
        if path in PUBLIC:
            assert response.status_code == 200, path
            continue
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await anonymous.get(path)).status_code == 200


def test_the_description_asks_for_the_bearer_key_wherever_a_route_needs_it(
    secured: Secured,
) -> None:
    """What the docs' "Authorize" button and generated clients go by: every operation that
    answers 401 without a key lists the bearer scheme, the turn routes included (they read
    the header in their own dependency and declare the scheme by hand)."""
    schema = secured.transport.app.openapi()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in PUBLIC:
                assert "security" not in operation, path
            else:
                assert operation.get("security") == [{"HTTPBearer": []}], (method, path)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer orch_" + "x" * 43,  # unknown
        "Bearer not-a-key",  # neither a key nor a JWT
        "Basic YWRtaW46YWRtaW4=",  # another scheme
        "Bearer",  # no token
        "Bearer two words",
        ADMIN_KEY,  # the right secret without the scheme
    ],
)
async def test_malformed_and_unknown_credentials_get_401(
    secured: Secured, authorization: str
) -> None:
    client = secured.client()
    response = await client.get("/api/sessions", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert ADMIN_KEY not in response.text


async def test_v1_answers_401_in_openais_error_shape(secured: Secured) -> None:
    response = await secured.client("orch_" + "y" * 43).get("/v1/models")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": {
            "message": response.json()["error"]["message"],
            "type": "authentication_error",
            "param": None,
            "code": "unauthorized",
        }
    }


async def test_a_tenant_key_on_an_admin_route_gets_403(secured: Secured) -> None:
    tenant = await secured.key(tenant="alice")
    for method, path in (("GET", "/api/admin/keys"), ("POST", "/api/admin/keys")):
        response = await tenant.request(method, path, json={"name": "sneaky"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert (await tenant.get("/metrics")).status_code == 403


async def test_metrics_for_prometheus_need_the_admin_key_unless_public(
    make_secured: Any,
) -> None:
    closed = make_secured()
    assert (await closed.client().get("/metrics")).status_code == 401
    assert (await closed.admin.get("/metrics")).status_code == 200
    public = make_secured(metrics_public=True)
    assert (await public.client().get("/metrics")).status_code == 200


async def test_a_key_is_shown_once_stored_as_a_digest_and_listed_with_its_spend(
    secured: Secured,
) -> None:
    created = await secured.issue(name="billing", tenant="acme", rate_limit_rpm=5, budget_usd=2)
    secret = created["key"]
    assert secret.startswith("orch_") and len(secret) >= 5 + 32
    assert created["prefix"] == secret[:13]
    assert created["id"].startswith("key_")
    assert created["tenant"] == "acme"
    await secured.client(secret).post("/api/orchestrate", json={"message": "hi"})

    listing = await secured.admin.get("/api/admin/keys")
    (key,) = listing.json()["keys"]
    assert secret not in listing.text
    assert key["id"] == created["id"]
    assert key["active"] is True
    assert key["rate_limit_rpm"] == 5
    assert key["budget_usd"] == 2.0
    assert key["spent_usd"] > 0
    (stored,) = secured.store.data.keys.values()
    assert secret not in repr(stored)


async def test_a_key_without_a_tenant_is_a_tenant_of_its_own(secured: Secured) -> None:
    created = await secured.issue()
    assert created["tenant"] == created["id"]


async def test_revocation_takes_effect_on_the_next_request(secured: Secured) -> None:
    created = await secured.issue(tenant="acme")
    client = secured.client(created["key"])
    assert (await client.get("/api/sessions")).status_code == 200

    assert (await secured.admin.delete(f"/api/admin/keys/{created['id']}")).status_code == 204

    refused = await client.get("/api/sessions")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    (key,) = (await secured.admin.get("/api/admin/keys")).json()["keys"]
    assert key["active"] is False and key["revoked_at"] is not None
    assert (await secured.admin.delete(f"/api/admin/keys/{created['id']}")).status_code == 204
    missing = await secured.admin.delete("/api/admin/keys/key_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "key_not_found"


async def test_an_expired_key_gets_401(secured: Secured) -> None:
    now = secured.clock.now()  # the fake clock the service runs on
    created = await secured.issue(expires_at=(now + timedelta(seconds=30)).isoformat())
    client = secured.client(created["key"])
    assert (await client.get("/api/sessions")).status_code == 200
    secured.clock.advance(31)
    assert (await client.get("/api/sessions")).status_code == 401


async def test_key_requests_are_validated(secured: Secured) -> None:
    past = (secured.clock.now() - timedelta(seconds=1)).isoformat()
    cases: list[tuple[dict[str, Any], int]] = [
        ({}, 422),
        ({"name": "k", "rate_limit_rpm": 0}, 422),
        ({"name": "k", "budget_usd": -1}, 422),
        ({"name": "k", "tenant": "has space"}, 422),
        ({"name": "k", "expires_at": "2030-01-01T00:00:00"}, 422),  # no zone
        ({"name": "k", "expires_at": past}, 400),
        ({"name": "k", "secret": "mine"}, 422),
    ]
    for body, status in cases:
        response = await secured.admin.post("/api/admin/keys", json=body)
        assert response.status_code == status, (body, response.text)


async def test_security_headers_on_every_response(secured: Secured) -> None:
    client = secured.admin
    for path in ("/api/health", "/api/sessions", "/v1/models", "/docs", "/api/nope"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        if path.startswith(("/api", "/v1")):
            assert response.headers["cache-control"] == "no-store"
    streamed = await client.post("/api/orchestrate", json={"message": "hi", "stream": True})
    assert streamed.headers.get_list("cache-control") == ["no-store"]


async def test_open_mode_serves_without_a_credential_but_manages_no_keys(
    make_secured: Any,
) -> None:
    open_service = make_secured(admin_api_key=None)
    anonymous = open_service.client()
    assert (await anonymous.post("/api/orchestrate", json={"message": "hi"})).status_code == 200
    ignored = open_service.client("whatever-the-sdk-sends")
    assert (await ignored.get("/api/sessions")).json()["total"] == 1
    refused = await anonymous.post("/api/admin/keys", json={"name": "k"})
    assert refused.status_code == 403
    assert "ADMIN_API_KEY" in refused.json()["error"]["message"]
    assert (await anonymous.get("/metrics")).status_code == 200


async def test_stored_keys_close_open_mode_at_start(make_secured: Any) -> None:
    first = make_secured()
    created = await first.issue(tenant="acme")
    second = make_secured(admin_api_key=None, store=first.store)  # the same database
    assert await second.services.authenticator.decide_mode() is False
    assert (await second.client().get("/api/sessions")).status_code == 401
    assert (await second.client(created["key"]).get("/api/sessions")).status_code == 200


async def test_a_failed_request_shows_no_credential(secured: Secured) -> None:
    created = await secured.issue()
    client = secured.client(created["key"])
    for response in (
        await client.get("/api/sessions/sess_nope"),
        await client.post("/api/orchestrate", json={"message": 5}),
        await client.get("/api/admin/keys"),
    ):
        assert created["key"] not in response.text
        assert response.status_code in (403, 404, 422)
