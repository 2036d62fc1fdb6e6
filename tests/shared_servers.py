"""Fixtures for tests that need the local PostgreSQL and Redis servers for real: a throw-away
database, and a unique Redis key prefix cleaned up afterwards. Each skips, saying why, when
its server does not answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.persistence.conftest import ADMIN_DSN, PostgresDatabases

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
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
