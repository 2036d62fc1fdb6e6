"""SIGKILL of a real service process under load: no acknowledged turn is lost, and the
database's metrics reconcile with what it stores.

Turns run concurrently on several sessions while the process is killed (no shutdown of any
kind); it is restarted on the same database, three times, on SQLite and on PostgreSQL (where
the killed holder's session leases must expire for its sessions to go on). Every turn answered 200 before a
kill must be in its session's history, its reply right after its question; a turn cut by the
kill may be stored or not, but never half. Afterwards the global totals (kept as running
totals) equal the sums of every session's own call records.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import openai_wire
from tests.fakes.upstream import FakeUpstream, Received, Reply
from tests.hardening.processes import Replica
from tests.persistence.conftest import (  # noqa: F401 - postgres: the session-scoped fixture
    PostgresDatabases,
    postgres,
    require_postgres,
)

SESSIONS = 6
KILLS = 3
LOAD_S = 1.5


def slow_echo(received: Received) -> Reply:
    reply = openai_wire.echo(received)
    reply.hang_s = 0.02  # keeps turns in flight when the kill comes
    return reply


async def load(url: str, sessions: list[str], acknowledged: list[tuple[str, str]]) -> None:
    """Turns on every session until the process dies (bounded by ``LOAD_S`` and a count)."""
    stop_at = time.monotonic() + LOAD_S + 5

    async def worker(client: httpx.AsyncClient, sid: str) -> None:
        for i in range(500):
            if time.monotonic() > stop_at:
                return
            message = f"{sid} turn {i} {time.monotonic_ns()}"
            try:
                answer = await client.post(
                    f"{url}/api/orchestrate", json={"message": message, "session_id": sid}
                )
            except httpx.TransportError:
                return  # the process is gone: this turn was never acknowledged
            if answer.status_code == 200:
                acknowledged.append((sid, message))

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client, sid) for sid in sessions))


async def first_turn(url: str, session_id: str, acknowledged: list[tuple[str, str]]) -> None:
    """One turn before the load: a process imports its provider's SDK at the first call
    (over a second on a slow machine), which would otherwise take the whole load window."""
    message = f"{session_id} first turn {time.monotonic_ns()}"
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{url}/api/orchestrate", json={"message": message, "session_id": session_id}
        )
    assert answer.status_code == 200, answer.text
    acknowledged.append((session_id, message))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres: PostgresDatabases | str,  # noqa: F811 - the fixture imported above
) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'chaos.db'}"
    return await require_postgres(postgres).create()


async def test_sigkill_under_load_loses_no_acknowledged_turn(database: str) -> None:
    acknowledged: list[tuple[str, str]] = []
    with FakeUpstream(slow_echo) as upstream:
        replica = Replica(
            database,
            upstream.url,
            RUN_MIGRATIONS_ON_START="true",
            # No summaries: then every call record is a turn, and the counts can be compared.
            SESSION_SUMMARIZATION_THRESHOLD="1000000",
            SESSION_SUMMARY_TOKEN_THRESHOLD="0",
            # The killed process's session leases (PostgreSQL) free their sessions this soon.
            SESSION_LEASE_TTL_S="1",
        ).start()
        async with httpx.AsyncClient(timeout=10) as client:
            created = [
                await client.post(f"{replica.url}/api/sessions", json={}) for _ in range(SESSIONS)
            ]
        sessions = [c.json()["session_id"] for c in created]
        for _ in range(KILLS):
            await first_turn(replica.url, sessions[0], acknowledged)
            running = asyncio.create_task(load(replica.url, sessions, acknowledged))
            await asyncio.sleep(LOAD_S)
            replica.kill()
            await running
            replica.start()
        try:
            stored, totals, per_session = await _read_back(replica.url, sessions)
        finally:
            replica.stop()

    assert len(acknowledged) > 50, "too little load to prove anything"
    for sid, message in acknowledged:
        messages = stored[sid]
        index = messages.index(message)  # ValueError: an acknowledged turn was lost
        assert index % 2 == 0 and messages[index + 1] == f"echo: {message}"
    for messages in stored.values():  # no half turn: questions and replies alternate
        assert all(m.startswith("echo: ") == (i % 2 == 1) for i, m in enumerate(messages))
    session_tokens = sum(m["total_tokens"] for m in per_session)
    session_cost = sum(m["total_cost"] for m in per_session)
    assert totals["tokens"] == session_tokens
    assert abs(totals["cost"] - session_cost) < 1e-9
    assert totals["requests"] == sum(len(messages) // 2 for messages in stored.values())


async def _read_back(
    url: str, sessions: list[str]
) -> tuple[dict[str, list[str]], dict[str, Any], list[dict[str, Any]]]:
    async with httpx.AsyncClient(timeout=10) as client:
        stored: dict[str, list[str]] = {}
        per_session = []
        for sid in sessions:
            contents: list[str] = []
            while True:
                page = await client.get(
                    f"{url}/api/sessions/{sid}/history",
                    params={"limit": 500, "offset": len(contents)},
                )
                body = page.json()
                contents += [m["content"] for m in body["messages"]]
                if not body["has_more"]:
                    break
            stored[sid] = contents
            per_session.append((await client.get(f"{url}/api/sessions/{sid}/metrics")).json())
        totals = (await client.get(f"{url}/api/metrics")).json()["providers"]["openai"]
    return stored, totals, per_session
