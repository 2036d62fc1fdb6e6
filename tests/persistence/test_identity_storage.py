"""API keys, tenant-scoped reads and per-key spend, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from src.domain.identity import ApiKey, Limits, digest
from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.migrate import alembic_config
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.builders import T0, a_call, a_session, new_id


def a_key(**changes: object) -> ApiKey:
    key_id = new_id("key")
    values: dict[str, object] = {
        "id": key_id,
        "name": "billing",
        "tenant": "acme",
        "prefix": "orch_abcdefgh",
        "secret_hash": digest(key_id),
        "created_at": T0,
        "limits": Limits(rate_limit_rpm=5, token_limit_tpm=1000, budget_usd=Decimal("2.5")),
        **changes,
    }
    return ApiKey(**values)  # type: ignore[arg-type]


async def test_keys_round_trip_and_revoke(uow_factory: SqlUnitOfWorkFactory) -> None:
    key = a_key(expires_at=T0 + timedelta(days=1))
    plain = a_key(limits=Limits(), created_at=T0 + timedelta(seconds=1))
    async with uow_factory() as uow:
        assert await uow.keys.any_usable(T0) is False
        await uow.keys.add(key)
        await uow.keys.add(plain)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.keys.by_digest(key.secret_hash) == key
        assert await uow.keys.by_digest(digest("nothing")) is None
        assert [k.id for k in await uow.keys.all()] == [key.id, plain.id]
        assert await uow.keys.any_usable(T0) is True
        assert await uow.keys.revoke(plain.id, T0) is True
        assert await uow.keys.revoke(plain.id, T0) is False
        await uow.commit()

    async with uow_factory() as uow:
        revoked = await uow.keys.by_digest(plain.secret_hash)
        assert revoked is not None and revoked.revoked_at == T0
        assert await uow.keys.any_usable(T0 + timedelta(days=2)) is False  # expired, revoked


async def test_a_keys_spend_is_the_sum_of_its_call_records(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    first, second = a_key(), a_key()
    session = a_session(owner="acme")
    async with uow_factory() as uow:
        await uow.keys.add(first)
        await uow.keys.add(second)
        await uow.sessions.add(session)
        await uow.commit()
    calls = [
        a_call(session.id, tenant="acme", key_id=first.id, cost=Decimal("1.5")),
        a_call(None, tenant="acme", key_id=first.id, cost=None),  # unknown cost adds nothing
        a_call(None, tenant="acme", key_id=first.id, cost=Decimal("0.000000000001")),
        a_call(None, tenant="globex", key_id=second.id, cost=Decimal("0.25")),
        a_call(None, tenant="globex", key_id=None, cost=Decimal("9")),
    ]
    async with uow_factory() as uow:
        for call in calls:
            await uow.calls.add(call)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.calls.add(a_call(None, key_id=first.id, cost=Decimal(100)))  # rolled back

    async with uow_factory() as uow:
        spent = {k.id: k.spent_usd for k in await uow.keys.all()}
        acme = await uow.calls.totals(None, "acme")
        everyone = await uow.calls.totals(None)
    assert spent == {first.id: Decimal("1.500000000001"), second.id: Decimal("0.25")}
    assert sum(t.cost for t in acme) == spent[first.id]
    assert sum(t.calls for t in acme) == 3
    assert sum(t.calls for t in everyone) == 5


async def test_an_owner_of_none_spans_every_tenant(uow_factory: SqlUnitOfWorkFactory) -> None:
    mine, theirs = a_session(owner="acme"), a_session(owner="globex")
    async with uow_factory() as uow:
        await uow.sessions.add(mine)
        await uow.sessions.add(theirs)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.get(theirs.id, "acme") is None
        found = await uow.sessions.get(theirs.id, None)
        assert found is not None and found.owner == "globex"
        assert await uow.sessions.count(None, None) == 2
        assert await uow.sessions.count("acme", None) == 1
        assert {s.id for s in await uow.sessions.list(None, None, 10, 0)} == {mine.id, theirs.id}
        assert await uow.sessions.delete(theirs.id, "acme") is False
        assert await uow.sessions.delete(theirs.id, None) is True
        await uow.commit()


async def test_migration_0002_gives_existing_calls_their_sessions_tenant(
    blank_database_url: str,
) -> None:
    """Calls recorded before tenancy belong to their session's owner, or to ``default``."""
    engine = create_engine(blank_database_url, pool_size=1)
    config = alembic_config(blank_database_url)

    def upgrade(connection: Connection, revision: str) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    def downgrade(connection: Connection, revision: str) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    call = (
        "INSERT INTO provider_calls VALUES ('{id}', {session}, 'turn', 'openai', 'm', 1, 1, 0,"
        " 0, 0, false, 5, 0.1, true, NULL, '2025-01-01')"
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(upgrade, "0001")
            await connection.execute(
                sa.text(
                    "INSERT INTO sessions VALUES ('s1', 'acme', NULL, '2025-01-01', '2025-01-01',"
                    " 'active', '{}', NULL, 0, NULL, 0, 0, 0)"
                )
            )
            await connection.execute(sa.text(call.format(id="c1", session="'s1'")))
            await connection.execute(sa.text(call.format(id="c2", session="NULL")))
            await connection.run_sync(upgrade, "head")
            await connection.commit()
            rows = await connection.execute(
                sa.text("SELECT id, tenant, key_id FROM provider_calls ORDER BY id")
            )
            assert [tuple(r) for r in rows] == [("c1", "acme", None), ("c2", "default", None)]
            await connection.run_sync(downgrade, "0001")  # and back down
            await connection.commit()
            columns = await connection.run_sync(
                lambda c: {col["name"] for col in sa.inspect(c).get_columns("provider_calls")}
            )
            assert not {"tenant", "key_id"} & columns
    finally:
        await engine.dispose()
