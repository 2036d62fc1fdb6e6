"""The FastAPI application, built from services the composition root hands in."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from src.api.auth import current_principal
from src.api.auth_headers import RateLimitHeadersMiddleware
from src.api.dependencies import Services
from src.api.errors import install_error_handlers
from src.api.middleware import RequestContextMiddleware
from src.api.routes import (
    admin,
    agents,
    analytics,
    dashboard,
    health,
    metrics,
    openai_compat,
    orchestrate,
    providers,
    sessions,
    ws,
)
from src.api.routes.docs import install_docs
from src.api.security import SecurityHeadersMiddleware

DESCRIPTION = """
A self-hosted gateway that holds conversations for backend services. Each turn loads the
session's memory (running summary plus recent messages), calls the provider and model chosen
in the request, stores the exchange and accounts tokens, cost and latency.

Every error answers `{"error": {"code", "message", "details"}}` with an `X-Request-ID` header.
Every route but health and these docs takes `Authorization: Bearer <key>`.
"""

# Room around the message for the rest of the JSON body and UTF-8 expansion.
_BODY_OVERHEAD_BYTES = 64 * 1024


def create_app(
    services: Services,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Orchestrator",
        version=services.config.version,
        description=DESCRIPTION,
        docs_url=None,  # served by ``routes.docs`` from the package, not from a CDN
        redoc_url=None,
        lifespan=lifespan,
        # The service traces itself (OTEL_EXPORTER_OTLP_ENDPOINT, GenAI spans without
        # content). FastAPI's own telemetry stays off: it would record exception messages and
        # stack traces once any library set a global provider, and it checks the global
        # providers on every request (about 40 us) even while they are unset.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    authenticated = [Depends(current_principal)]
    # The turn routes first: a request is matched against the routes in order, and matching
    # the turn route behind every other router cost a turn about 0.1 ms. Their routes
    # authenticate each on its own (``TurnContextDep``, ``/v1/models``'s dependency).
    app.include_router(orchestrate.router, prefix="/api")
    app.include_router(openai_compat.router)
    install_error_handlers(app)
    install_docs(app)
    app.include_router(health.router, prefix="/api")
    for router in (
        analytics.router,  # before sessions: /sessions/export.csv is not a session id
        providers.router,
        sessions.router,
        agents.router,
        metrics.router,
        admin.router,
    ):
        app.include_router(router, prefix="/api", dependencies=authenticated)
    # The socket authenticates in its first frame or subprotocol; the dashboard's pages hold
    # no data (their API calls carry the key).
    app.include_router(ws.router, prefix="/api")
    app.include_router(metrics.prometheus_router)
    app.include_router(dashboard.router)
    if services.config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(services.config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
        )
    app.add_middleware(RateLimitHeadersMiddleware, admission=services.admission)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=services.metrics,
        max_body_bytes=services.config.max_message_chars * 4 + _BODY_OVERHEAD_BYTES,
        access_log=services.config.access_log,
    )
    return app
