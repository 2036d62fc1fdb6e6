"""What the routers need, handed over by the composition root through ``app.state``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from src.api.errors import draining
from src.domain.admission import Admission
from src.domain.agents import AgentBook
from src.domain.analytics import AnalyticsReader
from src.domain.authentication import Authenticator
from src.domain.key_admin import KeyAdmin
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

    @property
    def names(self) -> Sequence[str]:
        """Every registered provider's name, known at start-up (what targets are parsed by)."""
        ...

    def describe(self) -> Sequence[ProviderStatusView]: ...

    def resolve(self, provider: str | None, model: str | None) -> tuple[str, str]:
        """The provider and model that serve a target (see ``ProviderDirectory.resolve``)."""
        ...


class Lifecycle:
    """Tracks turns in flight so a draining process can finish them before it exits.

    Turns still running when the grace period ends are cut off: their tasks are cancelled,
    which the turn pipeline settles as it settles a client that left (partial reply stored
    marked interrupted, every call record kept), and each answers 503 ``service_unavailable``
    (a whole turn) or ends with an ``error`` event (a streamed one).
    """

    def __init__(self) -> None:
        self.draining = False
        self.cut_off = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def admit(self) -> Admitted:
        """Admits a turn running in the current task, or refuses it with 503 once draining
        has begun; pair with ``done``."""
        if self.draining:
            raise draining()
        return self._track(Admitted(self, _current_task()))

    def _track(self, admitted: Admitted) -> Admitted:
        self._tasks.add(admitted.task)
        self._idle.clear()
        return admitted

    def _release(self, admitted: Admitted) -> None:
        self._tasks.discard(admitted.task)
        if not self._tasks:
            self._idle.set()

    def was_cut_off(self) -> bool:
        """True inside a turn's task that the end of the grace period cancelled; the task is
        then uncancelled so it can still answer."""
        task = asyncio.current_task()
        if not self.cut_off or task is None or not task.cancelling():
            return False
        task.uncancel()
        return True

    @contextmanager
    def turn(self) -> Iterator[None]:
        admitted = self.admit()
        try:
            yield
        except asyncio.CancelledError:
            if self.was_cut_off():
                raise draining() from None
            raise
        finally:
            admitted.done()

    async def drain(self, grace_s: float, settle_s: float = 5.0) -> bool:
        """Stops admitting turns and waits for those in flight; past ``grace_s`` cuts them off
        and gives them ``settle_s`` to store what they had. False if any had to be cut off."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_s)
        except TimeoutError:
            self.cut_off = True
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=settle_s)
            return False
        return True


class Admitted:
    """One admitted turn, tracked by the task it runs in."""

    def __init__(self, lifecycle: Lifecycle, task: asyncio.Task[Any]) -> None:
        self._lifecycle = lifecycle
        self.task = task

    def move_to_current_task(self) -> None:
        """The turn goes on in another task (a streamed body is sent by its own task)."""
        self._lifecycle._release(self)
        self.task = _current_task()
        self._lifecycle._track(self)

    def done(self) -> None:
        self._lifecycle._release(self)


def _current_task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None, "turns run in tasks"
    return task


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
    providers: ProviderCatalog
    database_ready: Callable[[], Awaitable[bool]]
    config: ApiConfig
    analytics: AnalyticsReader
    authenticator: Authenticator
    admission: Admission
    keys: KeyAdmin
    agents: AgentBook
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
