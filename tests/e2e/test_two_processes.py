"""Two `python main.py` processes on one PostgreSQL database and one Redis: a key's turns per
minute are counted once across both, and a key revoked through one is refused by the other
on its next request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_process import Service, responder
from tests.fakes.upstream import FakeUpstream
from tests.shared_servers import REDIS_URL

ADMIN = "admin-" + "p" * 40


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(responder) as fake:
        yield fake


def test_limits_and_revocation_hold_across_two_processes(
    tmp_path: Path, upstream: FakeUpstream, postgres_database: str, redis_prefix: str
) -> None:
    replicas = [Service(tmp_path / "unused.db", upstream.url) for _ in range(2)]
    for replica in replicas:
        replica.env.update(
            {
                "DATABASE_URL": postgres_database,
                "DATABASE_POOL_SIZE": "2",
                "ADMIN_API_KEY": ADMIN,
                "REDIS_URL": REDIS_URL,
                "REDIS_KEY_PREFIX": redis_prefix,
            }
        )
    first, second = replicas
    first.start()  # migrates the database
    try:
        second.start()
        try:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            created = first.post(
                "/api/admin/keys", json={"name": "k", "rate_limit_rpm": 2}, headers=admin
            ).json()
            bearer = {"Authorization": f"Bearer {created['key']}"}
            answers = [
                replica.post("/api/orchestrate", json={"message": "hi"}, headers=bearer)
                for replica in (first, second, first)
            ]
            assert [a.status_code for a in answers] == [200, 200, 429]
            assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
            assert "retry-after" in answers[2].headers

            other = first.post("/api/admin/keys", json={"name": "o"}, headers=admin).json()
            other_bearer = {"Authorization": f"Bearer {other['key']}"}
            turn = second.post("/api/orchestrate", json={"message": "a"}, headers=other_bearer)
            assert turn.status_code == 200
            revoked = httpx.delete(f"{second.url}/api/admin/keys/{other['id']}", headers=admin)
            assert revoked.status_code == 204
            refused = first.post("/api/orchestrate", json={"message": "b"}, headers=other_bearer)
            assert refused.status_code == 401
        finally:
            assert second.stop() == 0
    finally:
        assert first.stop() == 0
