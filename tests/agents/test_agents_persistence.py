"""Agent presets in real databases (a SQLite file and PostgreSQL) through the real unit of work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from src.api.app import create_app
from src.bootstrap import bootstrap
from src.domain.agents import AgentBook, AgentPreset, AgentSettings
from src.domain.errors import AgentExists
from src.domain.llm import ToolDefinition
from src.domain.ports import Ports
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from src.infrastructure.settings import Settings
from tests.api.conftest import Catalog
from tests.fakes.domain import FakeClock, FakeDirectory, FakeLocks, FakeProvider, FixedPrices
from tests.persistence.builders import T0

LOOKUP = ToolDefinition(
    "lookup_order",
    "Finds an order.",
    {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    strict=True,
)


SUPPORT = AgentSettings(
    provider="anthropic",
    model="claude-sonnet-5-5",
    system_prompt="You are the support agent.",
    temperature=0.3,
    max_tokens=800,
    tools=(LOOKUP,),
    fallbacks=("openai:gpt-5.4-mini", "gemini"),
)


def a_preset(
    tenant: str, name: str = "support-bot", settings: AgentSettings = SUPPORT
) -> AgentPreset:
    return AgentPreset(tenant, name, settings, created_at=T0, updated_at=T0)


async def _add(uow_factory: SqlUnitOfWorkFactory, *presets: AgentPreset) -> None:
    async with uow_factory() as uow:
        for preset in presets:
            await uow.agents.add(preset)
        await uow.commit()


async def test_a_preset_comes_back_as_stored(uow_factory: SqlUnitOfWorkFactory) -> None:
    full = a_preset("acme")
    bare = a_preset("acme", "bare", AgentSettings(model="m"))
    await _add(uow_factory, full, bare)

    async with uow_factory() as uow:
        assert await uow.agents.get("acme", "support-bot") == full
        assert await uow.agents.get("acme", "bare") == bare
        assert await uow.agents.get("acme", "ghost") is None


async def test_two_tenants_keep_presets_of_the_same_name_apart(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    ours = a_preset("acme", settings=replace(SUPPORT, model="ours"))
    theirs = a_preset("globex", settings=replace(SUPPORT, model="theirs"))
    await _add(uow_factory, ours, theirs, a_preset("acme", "a-first", AgentSettings(model="x")))

    async with uow_factory() as uow:
        assert await uow.agents.get("acme", "support-bot") == ours
        assert await uow.agents.get("globex", "support-bot") == theirs
        assert [p.name for p in await uow.agents.list("acme")] == ["a-first", "support-bot"]
        assert await uow.agents.list("globex") == [theirs]
        assert await uow.agents.list("initech") == []

    async with uow_factory() as uow:
        assert await uow.agents.delete("globex", "support-bot") is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.agents.get("acme", "support-bot") == ours
        assert await uow.agents.get("globex", "support-bot") is None
        assert await uow.agents.delete("globex", "support-bot") is False


async def test_a_taken_name_in_one_tenant_is_agent_exists_and_keeps_the_first(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    first = a_preset("acme")
    await _add(uow_factory, first)

    with pytest.raises(AgentExists):
        await _add(uow_factory, a_preset("acme", settings=AgentSettings(model="second")))

    async with uow_factory() as uow:
        assert await uow.agents.get("acme", "support-bot") == first


async def test_update_writes_the_settings_and_time_and_keeps_the_creation(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    await _add(uow_factory, a_preset("acme"), a_preset("globex"))
    changed = replace(
        a_preset("acme", settings=AgentSettings(model="new", tools=(), fallbacks=())),
        updated_at=T0 + timedelta(hours=1),
    )
    async with uow_factory() as uow:
        await uow.agents.update(changed)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.agents.get("acme", "support-bot") == changed
        assert await uow.agents.get("globex", "support-bot") == a_preset("globex")


async def test_uncommitted_presets_are_not_stored(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.agents.add(a_preset("acme"))
    async with uow_factory() as uow:
        assert await uow.agents.list("acme") == []


@pytest.fixture
async def client(
    uow_factory: SqlUnitOfWorkFactory,
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeProvider]]:
    provider = FakeProvider()
    directory = FakeDirectory(provider)

    async def ready() -> bool:
        return True

    runtime = bootstrap(
        Settings(_env_file=None, access_log=False),
        {},
        uow=uow_factory,
        providers=directory,
        catalog=Catalog(directory),
        prices=FixedPrices(),
        locks=FakeLocks(),
        clock=FakeClock(),
        database_ready=ready,
    )
    transport = httpx.ASGITransport(app=create_app(runtime.services), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http, provider


async def test_presets_over_http_on_a_real_database(
    client: tuple[httpx.AsyncClient, FakeProvider],
) -> None:
    http, provider = client
    preset = {
        "name": "support-bot",
        "model": "fake-1",
        "system_prompt": "You are the support agent.",
        "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "lookup_order"}}],
    }
    created = await http.post("/api/agents", json=preset)
    assert created.status_code == 201, created.text
    assert (await http.post("/api/agents", json=preset)).json()["error"]["code"] == "agent_exists"
    assert (await http.get("/api/agents/support-bot")).json() == created.json()

    turn = await http.post(
        "/api/orchestrate",
        json={
            "message": "where is it?",
            "agent_config": {"agent": "support-bot", "max_tokens": 50},
        },
    )
    assert turn.status_code == 200, turn.text
    [request] = provider.requests
    assert (request.model, request.temperature, request.max_tokens) == ("fake-1", 0.2, 50)
    assert request.messages[0].content == "You are the support agent."
    assert [t.name for t in request.tools] == ["lookup_order"]

    replaced = await http.put("/api/agents/support-bot", json={"temperature": 1.0})
    assert replaced.status_code == 200 and replaced.json()["system_prompt"] is None
    assert [a["temperature"] for a in (await http.get("/api/agents")).json()["agents"]] == [1.0]
    assert (await http.delete("/api/agents/support-bot")).status_code == 204
    assert (await http.get("/api/agents/support-bot")).json()["error"]["code"] == "agent_not_found"


async def test_two_creates_of_one_name_at_once_store_one_and_refuse_the_other(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    directory = FakeDirectory(FakeProvider())
    book = AgentBook(Ports(uow_factory, directory, FixedPrices(), FakeLocks(), FakeClock()))

    outcomes = await asyncio.gather(
        book.create("acme", "support-bot", AgentSettings(model="first")),
        book.create("acme", "support-bot", AgentSettings(model="second")),
        return_exceptions=True,
    )

    [stored] = [o for o in outcomes if isinstance(o, AgentPreset)]
    assert [type(o) for o in outcomes if not isinstance(o, AgentPreset)] == [AgentExists]
    assert await book.list("acme") == [stored]
