"""Limits, budget and revocation across two replicas sharing the local PostgreSQL and Redis,
and what one replica does when Redis is down.

Each replica is a separate ``build_app`` served by its own uvicorn: its own engine, limiter
and Redis client, so the database and Redis are all they share, as across pods.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import httpx

from tests.integration.conftest import StartService
from tests.shared_servers import REDIS_URL

ADMIN = "admin-" + "r" * 40
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def _turn(service: Any, key: str, message: str = "hi") -> httpx.Response:
    return service.http.post(
        "/api/orchestrate",
        json={"message": message},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_two_replicas_share_limits_budget_and_revocation(
    start_service: StartService, postgres_database: str, redis_prefix: str
) -> None:
    shared = {
        "admin_api_key": ADMIN,
        "database_url": postgres_database,
        "database_pool_size": 2,
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
    }
    first, second = start_service(**shared), start_service(**shared)
    created = first.http.post(
        "/api/admin/keys", json={"name": "k", "rate_limit_rpm": 3}, headers=ADMIN_HEADERS
    ).json()
    key = created["key"]

    answers = [_turn(replica, key) for replica in (first, second, first, second, first)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
    assert all(a.headers["x-ratelimit-limit"] == "3" for a in answers)
    assert 0 < int(answers[3].headers["retry-after"]) <= 60
    assert answers[3].json()["error"]["code"] == "rate_limited"

    budgeted = first.http.post(
        "/api/admin/keys", json={"name": "b", "budget_usd": 0.000001}, headers=ADMIN_HEADERS
    ).json()
    assert _turn(first, budgeted["key"]).status_code == 200
    refused = _turn(second, budgeted["key"])
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"

    revoked = second.http.delete(f"/api/admin/keys/{budgeted['id']}", headers=ADMIN_HEADERS)
    assert revoked.status_code == 204
    assert _turn(first, budgeted["key"]).status_code == 401


def test_with_redis_down_turns_are_admitted_and_a_warning_says_so(
    start_service: StartService, caplog: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service = start_service(admin_api_key=ADMIN, redis_url=f"redis://127.0.0.1:{port}/0")
    key = service.http.post(
        "/api/admin/keys", json={"name": "k", "rate_limit_rpm": 1}, headers=ADMIN_HEADERS
    ).json()["key"]
    with caplog.at_level(logging.WARNING, logger="orchestrator.limits"):
        answers = [_turn(service, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert any("rate limits not enforced" in r.getMessage() for r in caplog.records)
