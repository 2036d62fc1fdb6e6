"""What the routers need, handed over by the composition root through ``app.state``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request

from src.api.errors import draining
from src.domain.admission import Admission
from src.domain.authentication import Authenticator
from src.domain.key_admin import KeyAdmin
from src.domain.passthrough import Passthrough
from src.domain.session_manager import SessionManager
from src.infrastructure.metrics import RequestMetrics


class ProviderStatusView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def models(self) -> Sequence[str]: ...
    @property
    def default_model(self) -> str: ...
    @property
    def is_configured(self) -> bool: ...
    @property
    def is_healthy(self) -> bool: ...
    @property
    def capabilities(self) -> Sequence[str]: ...


class ProviderCatalog(Protocol):
    @property
    def default_provider(self) -> str: ...

    def describe(self) -> Sequence[ProviderStatusView]: ...


class Lifecycle:
    """Tracks turns in flight so a draining process can finish them before it exits."""

    def __init__(self) -> None:
        self.draining = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def admit(self) -> None:
        """Admits a turn, or refuses it with 503 once draining has begun; pair with ``done``."""
        if self.draining:
            raise draining()
        self._in_flight += 1
        self._idle.clear()

    def done(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    @contextmanager
    def turn(self) -> Iterator[None]:
        self.admit()
        try:
            yield
        finally:
            self.done()

    async def drain(self, grace_s: float) -> bool:
        """Stops admitting turns and waits for those in flight; False if the grace ran out."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_s)
        except TimeoutError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class ApiConfig:
    version: str
    max_message_chars: int = 100_000
    cors_origins: tuple[str, ...] = ()
    access_log: bool = True
    metrics_public: bool = False


@dataclass(slots=True)
class Services:
    manager: SessionManager
    passthrough: Passthrough
    providers: ProviderCatalog
    database_ready: Callable[[], Awaitable[bool]]
    config: ApiConfig
    authenticator: Authenticator
    admission: Admission
    keys: KeyAdmin
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


# Both are ``async def`` so FastAPI calls them in the event loop: a plain ``def`` dependency
# costs a round trip through the thread pool on every request.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_request_id(request: Request) -> str:
    request_id: str = request.state.request_id
    return request_id


ServicesDep = Annotated[Services, Depends(get_services)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
