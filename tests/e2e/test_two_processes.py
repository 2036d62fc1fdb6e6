"""Two `python main.py` processes on one PostgreSQL database and one Redis: a key's turns per
minute are counted once across both, and a key revoked through one is refused by the other
on its next request."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.e2e.test_process import Service, responder
from tests.fakes.upstream import FakeUpstream
from tests.persistence.conftest import ADMIN_DSN, PostgresDatabases

ADMIN = "admin-" + "p" * 40
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(responder) as fake:
        yield fake


@pytest.fixture
async def database() -> AsyncIterator[str]:
    try:
        admin = await asyncpg.connect(ADMIN_DSN, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        pytest.skip(f"PostgreSQL is unreachable ({type(error).__name__})")
    databases = PostgresDatabases(admin)
    try:
        yield await databases.create()
    finally:
        await databases.drop_all()
        await admin.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisError as error:
        pytest.skip(f"Redis is unreachable ({type(error).__name__})")
    prefix = f"test-{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_limits_and_revocation_hold_across_two_processes(
    tmp_path: Path, upstream: FakeUpstream, database: str, redis_prefix: str
) -> None:
    replicas = [Service(tmp_path / "unused.db", upstream.url) for _ in range(2)]
    for replica in replicas:
        replica.env.update(
            {
                "DATABASE_URL": database,
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
