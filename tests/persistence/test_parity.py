"""The same turns on SQLite and on PostgreSQL store the same rows.

One scenario (a session with a system prompt and metadata, eleven turns so that the oldest
messages fold into a summary, an idempotent turn and its replay, a turn that creates its own
session, a streamed turn, a failed turn, a deletion) runs through the real SessionManager on
each raw database. Ids and times are made deterministic, then every table is read back
through SQLAlchemy, independently of the code under test, and compared row by row.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import src.domain.accounting
import src.domain.sessions
import src.domain.settlement
import src.domain.turn
from src.domain.errors import ProviderServerError
from src.domain.memory import MemoryPolicy
from src.domain.ports import Ports
from src.domain.pricing import ModelPrice
from src.domain.session_manager import SessionManager
from src.domain.turns import TurnCommand
from src.infrastructure.persistence.databases import database_for
from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.locks import LocalSessionLocks
from src.infrastructure.persistence.migrate import upgrade_database
from src.infrastructure.persistence.tables import METADATA
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.domain import FakeClock, FakeDirectory, FakeProvider, FixedPrices
from tests.persistence.conftest import PostgresDatabases, require_postgres

PRICE = ModelPrice(input=Decimal("0.15"), cached_input=Decimal("0.075"), output=Decimal("0.6"))
# Set by the database itself at insert time, so it differs between any two runs.
NOT_COMPARED = {("idempotency_keys", "created_at")}


async def _run_scenario(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count(1)
    deterministic = lambda prefix: f"{prefix}_{next(counter):04d}"  # noqa: E731
    for module in (src.domain.sessions, src.domain.turn, src.domain.settlement):
        monkeypatch.setattr(module, "new_id", deterministic)
    monkeypatch.setattr(src.domain.accounting, "new_id", deterministic)
    provider = FakeProvider()
    clock = FakeClock()
    database = database_for(database_url, pool_size=2)
    await database.open()
    manager = SessionManager(
        Ports(
            uow=SqlUnitOfWorkFactory(database),
            providers=FakeDirectory(provider),
            prices=FixedPrices({("fake", "fake-1"): PRICE}),
            locks=LocalSessionLocks(),
            clock=clock,
        ),
        MemoryPolicy(),
    )
    try:
        session = await manager.create_session(
            user_id="user_1", metadata={"team": "search", "tags": ["a"]}, system_prompt="Brief."
        )
        for number in range(11):
            clock.advance(1.5)
            await manager.run_turn(TurnCommand(f"question {number}", session_id=session.id))
        keyed = TurnCommand("keyed", session_id=session.id, idempotency_key="key-1")
        await manager.run_turn(keyed)
        await manager.run_turn(keyed)  # replayed: stores nothing more
        created = await manager.run_turn(TurnCommand("a new conversation"))
        async for _ in manager.stream_turn(TurnCommand("streamed", session_id=session.id)):
            pass
        provider.queue.append(ProviderServerError("fake", "upstream down", status=503))
        with pytest.raises(ProviderServerError):
            await manager.run_turn(TurnCommand("fails", session_id=session.id))
        await manager.delete_session(created.session_id)
    finally:
        await database.aclose()


async def _stored(database_url: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_engine(database_url, pool_size=1)
    stored: dict[str, list[dict[str, Any]]] = {}
    try:
        async with engine.connect() as connection:
            for table in METADATA.sorted_tables:
                result = await connection.execute(
                    sa.select(table).order_by(*table.primary_key.columns)
                )
                stored[table.name] = [
                    {k: v for k, v in row.items() if (table.name, k) not in NOT_COMPARED}
                    for row in result.mappings()
                ]
    finally:
        await engine.dispose()
    return stored


async def test_sqlite_and_postgresql_store_the_same_rows_for_the_same_turns(
    tmp_path: Path, postgres: PostgresDatabases | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres_url = await require_postgres(postgres).create()
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'parity.db'}"
    stored = {}
    for url in (sqlite_url, postgres_url):
        await upgrade_database(url)
        await _run_scenario(url, monkeypatch)
        stored[url] = await _stored(url)

    on_sqlite, on_postgres = stored[sqlite_url], stored[postgres_url]
    assert {name: len(rows) for name, rows in on_sqlite.items()} == {
        "sessions": 1,
        "messages": 26,  # 11 + keyed + streamed turns on the session kept, two messages each
        "summaries": 1,
        "provider_calls": 16,  # those 13, the summary, the deleted session's, the failed one
        "idempotency_keys": 1,
        "api_keys": 0,
        "agent_presets": 0,
        "session_leases": 0,
        # The rollups' rows are spread over random buckets: their sums must agree.
        "call_rollups": len(on_sqlite["call_rollups"]),
    }
    for stored_rows in (on_sqlite, on_postgres):
        rollups = stored_rows.pop("call_rollups")
        stored_rows["call_rollups"] = [
            {"calls": sum(r["calls"] for r in rollups), "cost": sum(r["cost"] for r in rollups)}
        ]
    for name in on_sqlite:
        assert on_sqlite[name] == on_postgres[name], name
