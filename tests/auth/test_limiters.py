"""The two ``RateLimiter`` adapters: the same window semantics, atomic under concurrency.

Redis tests run on the local Redis (skipped with the reason when it is absent), with keys
under a prefix of their own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from src.domain.admission import RateLimiter
from src.infrastructure.limits.in_process import InProcessRateLimiter
from src.infrastructure.limits.redis import RedisRateLimiter
from tests.auth.conftest import ManualTime

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_is_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


require_redis = pytest.mark.skipif(not _redis_is_up(), reason="no Redis on 127.0.0.1:6379")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test-{uuid.uuid4().hex}:"
    yield prefix
    if not _redis_is_up():
        return
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["in_process", "redis"])
async def limiter(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[RateLimiter]:
    if request.param == "in_process":
        yield InProcessRateLimiter()
        return
    if not _redis_is_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    # What these tests prove is the counting, so Redis gets time to answer even on a loaded
    # machine: past the production time-out (0.5 s) the limiter fails open by design, which
    # let 24 of 50 concurrent takes through once (test_redis_down_fails_open_* covers that).
    redis = RedisRateLimiter(REDIS_URL, prefix=redis_prefix, timeout_s=10.0)
    yield redis
    await redis.aclose()


async def test_a_window_takes_up_to_its_limit(limiter: RateLimiter) -> None:
    assert (await limiter.take("k", 0, 3, 60)).count == 0  # reading opens nothing
    taken = [await limiter.take("k", 1, 3, 60) for _ in range(4)]
    assert [w.taken for w in taken] == [True, True, True, False]
    assert [w.count for w in taken] == [1, 2, 3, 3]
    assert 59 < taken[-1].reset_s <= 60
    assert not (await limiter.take("k", 0, 3, 60)).taken  # at the limit, a read is refused
    assert (await limiter.take("other", 1, 3, 60)).taken


async def test_an_amount_that_would_pass_the_limit_is_not_taken(limiter: RateLimiter) -> None:
    assert (await limiter.take("t", 70, 100, 60)).taken
    refused = await limiter.take("t", 40, 100, 60)
    assert not refused.taken and refused.count == 70
    charged = await limiter.take("t", 40, None, 60)  # an unconditional charge
    assert charged.taken and charged.count == 110


async def test_concurrent_takes_never_pass_the_limit(limiter: RateLimiter) -> None:
    results = await asyncio.gather(*(limiter.take("c", 1, 10, 60) for _ in range(50)))
    assert sum(w.taken for w in results) == 10


async def test_a_window_resets_after_its_length() -> None:
    time = ManualTime()
    limiter = InProcessRateLimiter(time)
    await limiter.take("k", 1, 1, 60)
    time.t = 59.5
    assert not (await limiter.take("k", 1, 1, 60)).taken
    time.t = 60.0
    assert (await limiter.take("k", 1, 1, 60)).taken


@require_redis
async def test_redis_windows_expire(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        await limiter.take("k", 1, 1, 0.2)
        assert not (await limiter.take("k", 1, 1, 0.2)).taken
        await asyncio.sleep(0.3)
        assert (await limiter.take("k", 1, 1, 0.2)).taken
    finally:
        await limiter.aclose()


async def test_redis_down_fails_open_with_one_warning(caplog: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="orchestrator.limits"):
            results = [await limiter.take("k", 1, 1, 60) for _ in range(3)]
    finally:
        await limiter.aclose()
    assert all(w.taken for w in results)
    warnings = [r.getMessage() for r in caplog.records if r.name == "orchestrator.limits"]
    assert len(warnings) == 1
    assert "Redis unreachable" in warnings[0]
    assert str(port) not in warnings[0]  # the URL (which may hold a password) is not logged


async def test_expired_windows_are_dropped_once_many_are_held(monkeypatch: Any) -> None:
    from src.infrastructure.limits import in_process

    monkeypatch.setattr(in_process, "_PRUNE_AT", 3)
    time = ManualTime()
    limiter = InProcessRateLimiter(time)
    for key in ("a", "b", "c"):
        await limiter.take(key, 1, None, 10)
    time.t = 11
    await limiter.take("d", 1, None, 10)
    assert set(limiter._windows) == {"d"}
