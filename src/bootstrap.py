"""The composition seam: builds the services from settings, with every adapter overridable.

``main.py``, the CLI and the tests all call :func:`bootstrap` (or :func:`build_app` on top of
it), so the wiring exists once: production passes settings and the environment, a test passes
the same plus the fakes it wants in place of a database, a provider directory, a clock or a
price book. Nothing is opened here; the returned ``lifespan`` opens and closes what bootstrap
itself created, and leaves handed-in adapters to their owner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from pydantic import SecretStr

from src.api.app import create_app
from src.api.dependencies import ApiConfig, ProviderCatalog, Services
from src.domain.admission import Admission, RateLimiter
from src.domain.agents import AgentBook
from src.domain.analytics import AnalyticsReader
from src.domain.authentication import Authenticator, KeyLookup, TokenVerifier
from src.domain.key_admin import KeyAdmin
from src.domain.memory import MemoryPolicy
from src.domain.ports import (
    Clock,
    Ports,
    PriceBook,
    ProviderDirectory,
    SessionLocks,
    UnitOfWorkFactory,
)
from src.infrastructure import collector
from src.infrastructure.auth.exposure import is_loopback, refusal, settle_mode
from src.infrastructure.llm_providers.registry import ProviderRegistry, build_provider_registry
from src.infrastructure.metrics import CallMetrics, RequestMetrics
from src.infrastructure.settings import Settings
from src.infrastructure.telemetry import ObservedSessionManager, TurnTracer

if TYPE_CHECKING:
    from src.infrastructure.telemetry_otel import OtelTracing

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
    #: Applied to the FastAPI application built over these services (HTTP tracing).
    app_hooks: list[Callable[[FastAPI], None]] = field(default_factory=list)

    @asynccontextmanager
    async def lifespan(self, _: FastAPI | None = None) -> AsyncIterator[None]:
        for step in self.startup:
            await step()
        collector.settle_startup()
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
    analytics: AnalyticsReader | None = None,
    limiter: RateLimiter | None = None,
    jwt: TokenVerifier | None = None,
    key_lookup: KeyLookup | None = None,
) -> Runtime:
    """Builds the services; each keyword, when given, replaces that production adapter."""
    startup: list[Closer] = []
    shutdown: list[Closer] = []
    if uow is None or locks is None or database_ready is None or analytics is None:
        uow, locks, ping, analytics, lookup = _sql_persistence(
            settings, uow, locks, analytics, startup, shutdown
        )
        database_ready = database_ready or ping
        key_lookup = key_lookup or lookup
    if prices is None:
        from src.infrastructure.pricing.price_book import DatedPriceBook

        prices = DatedPriceBook.load()
    if providers is None:
        registry = _provider_registry(settings, env, prices)
        shutdown.append(registry.aclose)
        providers = registry
        catalog = catalog or registry
    if catalog is None:
        raise ValueError("a provider directory handed in needs its catalog too")
    if clock is None:
        from src.infrastructure.clock import SystemClock

        clock = SystemClock()
    app_hooks: list[Callable[[FastAPI], None]] = []
    tracer: TurnTracer | None = None
    if settings.otel_exporter_otlp_endpoint:
        tracing = _tracing(settings)
        providers, uow, tracer = tracing.directory(providers), tracing.units(uow), tracing.turns
        app_hooks.append(tracing.instrument)
        shutdown.append(tracing.aclose)
    requests = RequestMetrics()
    calls = CallMetrics(requests.registry)
    authenticator = Authenticator(
        uow=uow,
        clock=clock,
        admin_key=_secret(settings.admin_api_key),
        jwt=jwt or _jwt_verifier(settings),
        enabled=settings.auth_enabled,
        lookup=key_lookup,
    )

    async def settle_auth_mode() -> None:
        await settle_mode(authenticator, settings.host)

    startup.append(settle_auth_mode)  # after the migrations: stored keys count
    admission = Admission(limiter or _rate_limiter(settings, shutdown))
    ports = Ports(
        uow=uow, providers=providers, prices=prices, locks=locks, clock=clock, observer=calls
    )
    manager = ObservedSessionManager(ports, memory_policy(settings), admission, tracer=tracer)
    services = Services(
        manager=manager,
        metrics=requests,
        providers=catalog,
        database_ready=database_ready,
        config=ApiConfig(
            version=app_version(),
            max_message_chars=settings.max_message_chars,
            cors_origins=tuple(settings.cors_origins),
            access_log=settings.access_log,
            metrics_public=settings.metrics_public,
        ),
        analytics=analytics,
        authenticator=authenticator,
        admission=admission,
        keys=KeyAdmin(uow=uow, clock=clock),
        agents=AgentBook(ports),
    )
    return Runtime(services, settings, startup, shutdown, app_hooks)


def build_app(settings: Settings, env: Mapping[str, str], **overrides: Any) -> FastAPI:
    """The FastAPI application over :func:`bootstrap`'s services."""
    runtime = bootstrap(settings, env, **overrides)
    app = create_app(runtime.services, runtime.lifespan)
    for hook in runtime.app_hooks:
        hook(app)
    return app


def _tracing(settings: Settings) -> OtelTracing:
    """OpenTelemetry, imported here only: with no endpoint set it costs nothing."""
    from src.infrastructure.telemetry_otel import OtelTracing

    endpoint = settings.otel_exporter_otlp_endpoint or ""
    return OtelTracing(endpoint, settings.otel_service_name, app_version())


def _sql_persistence(
    settings: Settings,
    uow: UnitOfWorkFactory | None,
    locks: SessionLocks | None,
    analytics: AnalyticsReader | None,
    startup: list[Closer],
    shutdown: list[Closer],
) -> tuple[
    UnitOfWorkFactory,
    SessionLocks,
    Callable[[], Awaitable[bool]],
    AnalyticsReader,
    KeyLookup | None,
]:
    """The database named by the settings, for whichever of its adapters were not handed in.

    Turns and the session locks run on the raw driver of the URL's scheme (``databases``);
    migrations and the analytics reads go through SQLAlchemy. Migrations run at start-up only when
    the unit of work is built here too: a test handing in its own store never migrates the
    database of the settings.
    """
    from src.infrastructure.persistence.databases import database_for, session_locks_for
    from src.infrastructure.persistence.migrate import upgrade_database
    from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
    from src.infrastructure.persistence.window_cache import WindowCache

    database = database_for(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pool_timeout_s=settings.database_pool_timeout_s,
    )
    if uow is None and settings.run_migrations_on_start:

        async def migrate() -> None:
            await upgrade_database(settings.database_url)

        startup.append(migrate)
    startup.append(database.open)
    shutdown.append(database.aclose)
    if locks is None:
        locks = session_locks_for(database, lease_ttl_s=settings.session_lease_ttl_s)
        shutdown.append(locks.aclose)
    if analytics is None:
        from src.infrastructure.persistence.analytics import SqlAnalytics
        from src.infrastructure.persistence.engine import create_engine

        # Analytics reads: on a pool of their own beside the raw driver's (docs/deployment.md
        # counts both).
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_side_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout_s=settings.database_pool_timeout_s,
        )
        shutdown.append(engine.dispose)
        analytics = SqlAnalytics(engine)
    from src.infrastructure.persistence.keys import SqlKeyLookup

    if uow is not None:  # a handed-in store holds the keys too: look them up through it
        return uow, locks, database.ping, analytics, None
    windows = WindowCache(
        budget_bytes=int(settings.window_cache_mb * 1_000_000),
        keep=settings.max_session_history,
    )
    uow_factory = SqlUnitOfWorkFactory(database, windows)
    return uow_factory, locks, database.ping, analytics, SqlKeyLookup(database)


async def startup_refusal(settings: Settings) -> str | None:
    """Why this process must not serve at all, checked by ``main.py`` before it binds, so a
    refusal is one log line and an exit status rather than a failed start-up."""
    static = settings.admin_api_key or settings.auth_jwt_secret or settings.auth_jwt_public_key
    if not settings.auth_enabled or static or is_loopback(settings.host):
        return None
    import sqlite3

    import asyncpg

    from src.infrastructure.clock import SystemClock
    from src.infrastructure.persistence.databases import database_for
    from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory

    database = database_for(settings.database_url, pool_size=1)
    try:
        await database.open()
        authenticator = Authenticator(uow=SqlUnitOfWorkFactory(database), clock=SystemClock())
        open_mode = await authenticator.decide_mode()
    except (sqlite3.Error, asyncpg.PostgresError, OSError):
        open_mode = True  # no api_keys table yet, or no database: no stored key either
    finally:
        await database.aclose()
    return refusal(settings.host) if open_mode else None


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _jwt_verifier(settings: Settings) -> TokenVerifier | None:
    secret, public_key = _secret(settings.auth_jwt_secret), _secret(settings.auth_jwt_public_key)
    if secret is None and public_key is None:
        return None
    from src.infrastructure.auth.jwt import JwtVerifier

    return JwtVerifier(
        secret=secret,
        public_key_pem=public_key,
        audience=settings.auth_jwt_audience,
        issuer=settings.auth_jwt_issuer,
        tenant_claim=settings.auth_jwt_tenant_claim,
    )


def _rate_limiter(settings: Settings, shutdown: list[Closer]) -> RateLimiter:
    """Redis when ``REDIS_URL`` is set (limits hold across replicas), else this process."""
    url = _secret(settings.redis_url)
    if url is None:
        from src.infrastructure.limits.in_process import InProcessRateLimiter

        return InProcessRateLimiter()
    from src.infrastructure.limits.redis import RedisRateLimiter

    limiter = RedisRateLimiter(url, prefix=settings.redis_key_prefix)
    shutdown.append(limiter.aclose)
    return limiter


def _provider_registry(
    settings: Settings, env: Mapping[str, str], prices: PriceBook
) -> ProviderRegistry:
    registry = build_provider_registry(
        env,
        prices=prices,
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
