"""The fixtures of the API and persistence tests, shared by the agent preset tests."""

from __future__ import annotations

from tests.api.conftest import api
from tests.persistence.conftest import (
    backend,
    database,
    database_url,
    engine,
    postgres,
    uow_factory,
    windows,
)

__all__ = [
    "api",
    "backend",
    "database",
    "database_url",
    "engine",
    "postgres",
    "uow_factory",
    "windows",
]
