"""The composition root: reads the settings once, builds the adapters, hands them to the
services, and serves the API with uvicorn (``python main.py``).

On SIGTERM the process drains: readiness answers 503, new turns are refused, turns in flight
finish (up to SHUTDOWN_GRACE_S), then uvicorn closes and the process exits 0. A second signal
stops at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from types import FrameType

import uvicorn
from dotenv import dotenv_values
from fastapi import FastAPI

from src.api.app import create_app
from src.api.dependencies import ApiConfig, Lifecycle, Services
from src.domain.memory import MemoryPolicy
from src.domain.passthrough import Passthrough
from src.domain.session_manager import SessionManager
from src.infrastructure.clock import SystemClock
from src.infrastructure.llm_providers.registry import build_provider_registry
from src.infrastructure.persistence.engine import create_engine, database_is_reachable
from src.infrastructure.persistence.locks import session_locks_for
from src.infrastructure.persistence.migrate import upgrade_database
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from src.infrastructure.pricing.price_book import JsonPriceBook
from src.infrastructure.settings import Settings

log = logging.getLogger("orchestrator")


def app_version() -> str:
    try:
        return version("orchestrator")
    except PackageNotFoundError:  # running from a checkout that was not installed
        return "0.0.0+local"


def read_environment() -> dict[str, str]:
    """The process environment over ``.env``: what the provider registry reads its keys from."""
    env = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    env.update(os.environ)
    return env


def build_app(settings: Settings, env: Mapping[str, str]) -> FastAPI:
    """Wires every adapter into the services and the API; nothing is opened until start-up."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
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
    uow = SqlUnitOfWorkFactory(engine)
    prices = JsonPriceBook.load()
    clock = SystemClock()
    locks = session_locks_for(engine, pool_size=settings.database_pool_size)
    manager = SessionManager(
        uow=uow,
        providers=registry,
        prices=prices,
        locks=locks,
        clock=clock,
        policy=MemoryPolicy(
            summarization_threshold=settings.session_summarization_threshold,
            summary_token_threshold=settings.session_summary_token_threshold,
            keep_recent=settings.session_keep_recent,
            max_history=settings.max_session_history,
            summary_provider=settings.summary_provider,
            summary_model=settings.summary_model,
            lock_timeout_s=settings.session_lock_timeout_s,
        ),
    )

    async def database_ready() -> bool:
        return await database_is_reachable(engine)

    services = Services(
        manager=manager,
        passthrough=Passthrough(uow=uow, providers=registry, prices=prices, clock=clock),
        providers=registry,
        database_ready=database_ready,
        config=ApiConfig(
            version=app_version(),
            max_message_chars=settings.max_message_chars,
            cors_origins=tuple(settings.cors_origins),
            access_log=settings.access_log,
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations_on_start:
            await upgrade_database(settings.database_url)
        # Everything alive now (modules, SDK clients, settings) lives as long as the process:
        # keep it out of the collector's generations, so full collections stay short.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await registry.aclose()
            await locks.aclose()
            await engine.dispose()

    return create_app(services, lifespan)


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM/SIGINT drains turns in flight before shutting down."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, grace_s: float) -> None:
        super().__init__(config)
        self._lifecycle = lifecycle
        self._grace_s = grace_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Future[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._lifecycle.draining or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._lifecycle.draining = True
        log.info("draining: %d turn(s) in flight", self._lifecycle.in_flight)
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        async def drain_then_exit() -> None:
            if not await self._lifecycle.drain(self._grace_s):
                log.warning("grace period over with turns still in flight")
            # Not uvicorn's handle_exit: that re-raises the signal after shutdown, and a
            # drained process exits 0.
            self.should_exit = True

        self._drain_task = asyncio.ensure_future(drain_then_exit())


def serve(settings: Settings, env: Mapping[str, str]) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    app = build_app(settings, env)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
    )
    lifecycle: Lifecycle = app.state.services.lifecycle
    DrainingServer(config, lifecycle, settings.shutdown_grace_s).run()


if __name__ == "__main__":
    serve(Settings(), read_environment())
