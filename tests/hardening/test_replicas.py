"""Two replicas on one PostgreSQL database, with the default settings, under 200 turns at once.

Each turn in flight used to hold a database connection for its whole provider call, so two
replicas exhausted the server's 100 connections and answered 500. Session leases hold none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from src.infrastructure.persistence.migrate import upgrade_database
from tests.fakes.upstream import FakeUpstream
from tests.hardening.processes import Replica
from tests.persistence.conftest import PostgresDatabases, require_postgres

TURNS = 200


@pytest.fixture
async def replicas(
    postgres: PostgresDatabases | str, upstream: FakeUpstream
) -> AsyncIterator[tuple[Replica, Replica]]:
    url = await require_postgres(postgres).create()
    await upgrade_database(url)
    first, second = Replica(url, upstream.url).start(), Replica(url, upstream.url).start()
    try:
        yield first, second
    finally:
        for replica in (first, second):
            replica.stop()


async def test_200_concurrent_turns_on_one_session_over_two_replicas(
    replicas: tuple[Replica, Replica],
) -> None:
    limits = httpx.Limits(max_connections=TURNS)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        created = await client.post(f"{replicas[0].url}/api/sessions", json={})
        sid = created.json()["session_id"]

        async def turn(i: int) -> httpx.Response:
            replica = replicas[i % 2]
            body = {"message": f"question {i}", "session_id": sid}
            return await client.post(f"{replica.url}/api/orchestrate", json=body)

        answers = await asyncio.gather(*(turn(i) for i in range(TURNS)))
    # A new client: a kept-alive connection idle past the server's keep-alive timeout during
    # the burst may be closed by the server just as it is reused.
    async with httpx.AsyncClient(timeout=30) as client:
        history = await client.get(
            f"{replicas[1].url}/api/sessions/{sid}/history", params={"limit": 500}
        )

    statuses = sorted({a.status_code for a in answers})
    assert statuses == [200], [a.text for a in answers if a.status_code != 200][:3]
    messages = history.json()["messages"]
    assert len(messages) == 2 * TURNS
    for question, reply in zip(messages[::2], messages[1::2], strict=True):
        assert question["role"] == "user" and reply["role"] == "assistant"
        assert reply["content"] == f"echo: {question['content']}"
    assert sorted(m["content"] for m in messages[::2]) == sorted(
        f"question {i}" for i in range(TURNS)
    )


async def test_an_exhausted_pool_answers_503_with_retry_after_never_500(
    postgres: PostgresDatabases | str, upstream: FakeUpstream
) -> None:
    url = await require_postgres(postgres).create()
    await upgrade_database(url)
    tight = {
        "DATABASE_POOL_SIZE": "1",
        "DATABASE_MAX_OVERFLOW": "0",
        "DATABASE_POOL_TIMEOUT_S": "0.001",
    }
    replica = Replica(url, upstream.url, **tight).start()
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            answers = await asyncio.gather(
                *(
                    client.post(f"{replica.url}/api/orchestrate", json={"message": f"q{i}"})
                    for i in range(60)
                )
            )
    finally:
        replica.stop()

    refused = [a for a in answers if a.status_code != 200]
    assert refused, "the pool never ran out: the test proves nothing"
    assert {a.status_code for a in refused} == {503}
    assert all(a.headers["Retry-After"] == "1" for a in refused)
    assert {a.json()["error"]["code"] for a in refused} == {"storage_unavailable"}


async def test_streamed_and_plain_turns_commit_under_their_lease(
    replicas: tuple[Replica, Replica],
) -> None:
    """The lease's fencing check runs inside a streamed turn's commit too."""
    async with httpx.AsyncClient(timeout=30) as client:
        sid = (await client.post(f"{replicas[0].url}/api/sessions", json={})).json()["session_id"]
        streamed = await client.post(
            f"{replicas[0].url}/api/orchestrate",
            json={"message": "streamed", "session_id": sid, "stream": True},
        )
        plain = await client.post(
            f"{replicas[1].url}/api/orchestrate", json={"message": "plain", "session_id": sid}
        )
        history = (await client.get(f"{replicas[1].url}/api/sessions/{sid}/history")).json()

    assert "event: done" in streamed.text and plain.status_code == 200
    assert [m["content"] for m in history["messages"]] == [
        "streamed",
        "echo: streamed",
        "plain",
        "echo: plain",
    ]
