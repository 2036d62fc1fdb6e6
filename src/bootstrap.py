"""The composition seam: builds the services from settings, with every adapter overridable.

``main.py``, the CLI and the tests all call :func:`bootstrap` (or :func:`build_app` on top of
it), so the wiring exists once: production passes settings and the environment, a test passes
the same plus the fakes it wants in place of a database, a provider directory, a clock or a
price book. Nothing is opened here; the returned ``lifespan`` opens and closes what bootstrap
itself created, and leaves handed-in adapters to their owner.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI

from src.api.app import create_app
from src.api.dependencies import ApiConfig, ProviderCatalog, Services
from src.domain.memory import MemoryPolicy
from src.domain.passthrough import Passthrough
from src.domain.ports import Clock, PriceBook, ProviderDirectory, SessionLocks, UnitOfWorkFactory
from src.domain.session_manager import SessionManager
from src.infrastructure.llm_providers.registry import ProviderRegistry, build_provider_registry
from src.infrastructure.metrics import CallMetrics, RequestMetrics
from src.infrastructure.settings import Settings

Closer = Callable[[], Awaitable[Any]]


def app_version() -> str:
    try:
        return version("orchestrator")
    except PackageNotFoundError:  # running from a checkout that was not installed
        return "0.0.0+local"


def memory_policy(settings: Settings) -> MemoryPolicy:
    return MemoryPolicy(
        summarization_threshold=settings.session_summarization_threshold,
        summary_token_threshold=settings.session_summary_token_threshold,
        keep_recent=settings.session_keep_recent,
        max_history=settings.max_session_history,
        summary_provider=settings.summary_provider,
        summary_model=settings.summary_model,
        lock_timeout_s=settings.session_lock_timeout_s,
    )


@dataclass(slots=True)
class Runtime:
    """The built services and what must run at start-up and shutdown."""

    services: Services
    settings: Settings
    startup: list[Closer] = field(default_factory=list)
    shutdown: list[Closer] = field(default_factory=list)

    @asynccontextmanager
    async def lifespan(self, _: FastAPI | None = None) -> AsyncIterator[None]:
        for step in self.startup:
            await step()
        # Everything alive now (modules, SDK clients, settings) lives as long as the process:
        # keep it out of the collector's generations, so full collections stay short.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for close in reversed(self.shutdown):
                await close()


def bootstrap(
    settings: Settings,
    env: Mapping[str, str],
    *,
    uow: UnitOfWorkFactory | None = None,
    providers: ProviderDirectory | None = None,
    catalog: ProviderCatalog | None = None,
    prices: PriceBook | None = None,
    locks: SessionLocks | None = None,
    clock: Clock | None = None,
    database_ready: Callable[[], Awaitable[bool]] | None = None,
) -> Runtime:
    """Builds the services; each keyword, when given, replaces that production adapter."""
    startup: list[Closer] = []
    shutdown: list[Closer] = []
    if uow is None or locks is None or database_ready is None:
        uow, locks, database_ready = _sql_persistence(settings, uow, locks, startup, shutdown)
    if providers is None:
        registry = _provider_registry(settings, env)
        shutdown.append(registry.aclose)
        providers = registry
        catalog = catalog or registry
    if catalog is None:
        raise ValueError("a provider directory handed in needs its catalog too")
    if prices is None:
        from src.infrastructure.pricing.price_book import DatedPriceBook

        prices = DatedPriceBook.load()
    if clock is None:
        from src.infrastructure.clock import SystemClock

        clock = SystemClock()
    requests = RequestMetrics()
    calls = CallMetrics(requests.registry)
    manager = SessionManager(
        uow=uow,
        providers=providers,
        prices=prices,
        locks=locks,
        clock=clock,
        policy=memory_policy(settings),
        observer=calls,
    )
    services = Services(
        manager=manager,
        passthrough=Passthrough(
            uow=uow, providers=providers, prices=prices, clock=clock, observer=calls
        ),
        metrics=requests,
        providers=catalog,
        database_ready=database_ready,
        config=ApiConfig(
            version=app_version(),
            max_message_chars=settings.max_message_chars,
            cors_origins=tuple(settings.cors_origins),
            access_log=settings.access_log,
        ),
    )
    return Runtime(services, settings, startup, shutdown)


def build_app(settings: Settings, env: Mapping[str, str], **overrides: Any) -> FastAPI:
    """The FastAPI application over :func:`bootstrap`'s services."""
    runtime = bootstrap(settings, env, **overrides)
    return create_app(runtime.services, runtime.lifespan)


def _sql_persistence(
    settings: Settings,
    uow: UnitOfWorkFactory | None,
    locks: SessionLocks | None,
    startup: list[Closer],
    shutdown: list[Closer],
) -> tuple[UnitOfWorkFactory, SessionLocks, Callable[[], Awaitable[bool]]]:
    """The database named by the settings, for whichever of its adapters were not handed in."""
    from src.infrastructure.persistence.engine import create_engine, database_is_reachable
    from src.infrastructure.persistence.locks import session_locks_for
    from src.infrastructure.persistence.migrate import upgrade_database
    from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory

    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout_s=settings.database_pool_timeout_s,
    )
    if settings.run_migrations_on_start:

        async def migrate() -> None:
            await upgrade_database(settings.database_url)

        startup.append(migrate)
    if locks is None:
        sql_locks = session_locks_for(engine, lease_ttl_s=settings.session_lease_ttl_s)
        shutdown.append(sql_locks.aclose)
        locks = sql_locks

    async def ready() -> bool:
        return await database_is_reachable(engine)

    shutdown.append(engine.dispose)
    return uow or SqlUnitOfWorkFactory(engine), locks, ready


def _provider_registry(settings: Settings, env: Mapping[str, str]) -> ProviderRegistry:
    registry = build_provider_registry(
        env,
        default_provider=settings.default_provider,
        timeout_s=settings.provider_timeout_s,
        max_retries=settings.provider_max_retries,
        retry_after_cap_s=settings.provider_retry_after_cap_s,
        breaker_threshold=settings.circuit_breaker_threshold,
        breaker_cooldown_s=settings.circuit_breaker_cooldown_s,
    )
    if settings.summary_provider is not None:
        registry.require_known(settings.summary_provider)
    return registry
