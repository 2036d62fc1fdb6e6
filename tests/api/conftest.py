from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from src.api.app import create_app
from src.api.dependencies import Services
from src.bootstrap import bootstrap
from src.infrastructure.settings import Settings
from tests.fakes.domain import (
    FakeAnalytics,
    FakeClock,
    FakeDirectory,
    FakeLocks,
    FakeProvider,
    FakeStore,
    FixedPrices,
)
from tests.unit.test_session_manager import PRICE


@dataclass(frozen=True)
class Status:
    name: str
    models: tuple[str, ...]
    default_model: str
    is_configured: bool
    is_healthy: bool
    capabilities: tuple[str, ...] = ("chat", "streaming")


class Catalog:
    def __init__(self, directory: FakeDirectory) -> None:
        self.directory = directory
        self.unhealthy: set[str] = set()
        self.default_provider = directory.default_provider
        self.names = (*directory.providers, *sorted(directory.unconfigured))

    def resolve(self, provider: str | None, model: str | None) -> tuple[str, str]:
        return self.directory.resolve(provider, model)

    def describe(self) -> list[Status]:
        return [
            Status(n, ("m",), "m", n not in self.directory.unconfigured, n not in self.unhealthy)
            for n in self.names
        ]


@dataclass
class Harness:
    client: httpx.AsyncClient
    provider: FakeProvider
    store: FakeStore
    services: Services
    catalog: Catalog


@pytest.fixture
async def api() -> AsyncIterator[Harness]:
    provider = FakeProvider()
    store = FakeStore()
    directory = FakeDirectory(provider, unconfigured=["absent"])
    ready = {"db": True}

    async def database_ready() -> bool:
        return ready["db"]

    catalog = Catalog(directory)
    settings = Settings(
        _env_file=None, max_message_chars=1000, access_log=False, session_lock_timeout_s=0.2
    )
    runtime = bootstrap(
        settings,
        {},
        uow=store,
        providers=directory,
        catalog=catalog,
        prices=FixedPrices({("fake", "fake-1"): PRICE}),
        locks=FakeLocks(),
        clock=FakeClock(),
        database_ready=database_ready,
        analytics=FakeAnalytics(store),
    )
    services = runtime.services
    app = create_app(services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Harness(client, provider, store, services, catalog)
