"""A bounded schemathesis run over the service's own OpenAPI, on SQLite and on PostgreSQL.

Every operation gets generated requests, valid and invalid (a few hundred in all, well under a
minute per database), sent over HTTP to the real application, its real database and a fake
provider behind the provider port. The only property checked is the one the service promises
for any input: never a server error.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from src.bootstrap import build_app
from src.infrastructure.settings import Settings
from tests.api.conftest import Catalog
from tests.fakes.domain import FakeDirectory, FakeProvider, FixedPrices
from tests.persistence.conftest import (  # noqa: F401 - postgres: the session-scoped fixture
    PostgresDatabases,
    postgres,
    require_postgres,
)
from tests.unit.test_session_manager import PRICE

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(params=["sqlite", "postgresql"])
async def service_schema(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres: PostgresDatabases | str,  # noqa: F811 - the fixture imported above
) -> AsyncIterator[schemathesis.BaseSchema]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    else:
        url = await require_postgres(postgres).create()
    directory = FakeDirectory(FakeProvider())
    app = build_app(
        Settings(_env_file=None, database_url=url, access_log=False, log_level="error"),
        {},
        providers=directory,
        catalog=Catalog(directory),
        prices=FixedPrices({("fake", "fake-1"): PRICE}),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_no_input_makes_a_server_error(service_schema: schemathesis.BaseSchema) -> None:
    # schemathesis' own pytest plugin does not load under this pytest: drive hypothesis here.
    server_errors: list[str] = []
    calls: list[int] = []
    operations = [result.ok() for result in service_schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            calls.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

        call()

    assert len(operations) >= 10 and len(calls) >= 200
    assert server_errors == []
