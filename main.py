"""Reads the settings once and serves the API with uvicorn (``python main.py``); the wiring
itself is ``src.bootstrap``.

On SIGTERM the process drains: readiness answers 503, new turns are refused, turns in flight
finish (up to SHUTDOWN_GRACE_S), then uvicorn closes and the process exits 0. A second signal
stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from types import FrameType

import uvicorn
from dotenv import dotenv_values

from src.api.dependencies import Lifecycle
from src.bootstrap import build_app
from src.infrastructure.logging_setup import configure_logging
from src.infrastructure.settings import Settings

log = logging.getLogger("orchestrator")


def read_environment() -> dict[str, str]:
    """The process environment over ``.env``: what the provider registry reads its keys from."""
    env = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    env.update(os.environ)
    return env


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
    configure_logging(settings.log_format, settings.log_level)
    app = build_app(settings, env)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # configure_logging's handler formats uvicorn's lines too
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
    )
    lifecycle: Lifecycle = app.state.services.lifecycle
    DrainingServer(config, lifecycle, settings.shutdown_grace_s).run()


if __name__ == "__main__":
    serve(Settings(), read_environment())
