"""Fixtures of the hardening tests: the real PostgreSQL databases and a fake provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from src.api.app import create_app
from src.bootstrap import bootstrap
from src.infrastructure.settings import Settings
from tests.api.conftest import Catalog
from tests.fakes import openai_wire
from tests.fakes.domain import FakeDirectory, FakeProvider, FixedPrices
from tests.fakes.upstream import FakeUpstream
from tests.persistence.conftest import (  # noqa: F401 - postgres: the session-scoped fixture
    PostgresDatabases,
    postgres,
    require_postgres,
)
from tests.unit.test_session_manager import PRICE


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(openai_wire.echo) as fake:
        yield fake


@dataclass
class Served:
    """The real application over a real SQLite file, a fake provider behind the ports."""

    client: httpx.AsyncClient
    provider: FakeProvider
    database_url: str


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """On SQLite."""
    async with serving(f"sqlite+aiosqlite:///{tmp_path / 'orchestrator.db'}") as harness:
        yield harness


@pytest.fixture(params=["sqlite", "postgresql"])
async def served_on_both(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres: PostgresDatabases | str,  # noqa: F811 - the fixture imported above
) -> AsyncIterator[Served]:
    """On SQLite, then on a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'orchestrator.db'}"
    else:
        url = await require_postgres(postgres).create()
    async with serving(url) as harness:
        yield harness


@asynccontextmanager
async def serving(url: str) -> AsyncIterator[Served]:
    provider = FakeProvider()
    directory = FakeDirectory(provider)
    settings = Settings(_env_file=None, database_url=url, access_log=False)
    prices = FixedPrices({("fake", "fake-1"): PRICE})
    runtime = bootstrap(
        settings, {}, providers=directory, catalog=Catalog(directory), prices=prices
    )
    app = create_app(runtime.services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        runtime.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield Served(client, provider, url)
