"""The application with credentials switched on (an admin key), over the in-memory store.

``Secured.key(...)`` issues a key through ``POST /api/admin/keys`` exactly as an operator
would and returns a client that sends it, so tests speak only HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from src.api.app import create_app
from src.api.dependencies import Services
from src.bootstrap import bootstrap
from src.domain.authentication import TokenVerifier
from src.infrastructure.limits.in_process import InProcessRateLimiter
from src.infrastructure.settings import Settings
from tests.api.conftest import Catalog
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

ADMIN_KEY = "admin-" + "a" * 40


class ManualTime:
    """The rate limiter's clock, moved by the test."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Secured:
    transport: httpx.ASGITransport
    services: Services
    provider: FakeProvider
    store: FakeStore
    time: ManualTime
    clock: FakeClock
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=self.transport, base_url="http://test", headers=headers
        )
        self.clients.append(client)
        return client

    @property
    def admin(self) -> httpx.AsyncClient:
        return self.client(ADMIN_KEY)

    async def issue(self, **body: Any) -> dict[str, Any]:
        response = await self.admin.post("/api/admin/keys", json={"name": "k", **body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def key(self, **body: Any) -> httpx.AsyncClient:
        return self.client((await self.issue(**body))["key"])


MakeSecured = Callable[..., Any]


@pytest.fixture
async def make_secured() -> AsyncIterator[Callable[..., Secured]]:
    built: list[Secured] = []

    def make(
        jwt: TokenVerifier | None = None, store: FakeStore | None = None, **settings: Any
    ) -> Secured:
        provider = FakeProvider()
        store = store or FakeStore()
        directory = FakeDirectory(provider)
        time = ManualTime()

        async def database_ready() -> bool:
            return True

        values: dict[str, Any] = {
            "admin_api_key": ADMIN_KEY,
            "access_log": False,
            "session_lock_timeout_s": 0.2,
            **settings,
        }
        clock = FakeClock()
        runtime = bootstrap(
            Settings(_env_file=None, **values),
            {},
            uow=store,
            providers=directory,
            catalog=Catalog(directory),
            prices=FixedPrices({("fake", "fake-1"): PRICE}),
            locks=FakeLocks(),
            clock=clock,
            database_ready=database_ready,
            analytics=FakeAnalytics(store),
            limiter=InProcessRateLimiter(time),
            jwt=jwt,
        )
        app = create_app(runtime.services)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        secured = Secured(transport, runtime.services, provider, store, time, clock)
        built.append(secured)
        return secured

    yield make
    for secured in built:
        for client in secured.clients:
            await client.aclose()


@pytest.fixture
def secured(make_secured: Callable[..., Secured]) -> Secured:
    return make_secured()
