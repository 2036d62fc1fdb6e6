"""Fixtures of the hardening tests: the real PostgreSQL databases and a fake provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import openai_wire
from tests.fakes.upstream import FakeUpstream
from tests.persistence.conftest import postgres  # noqa: F401 - the session-scoped fixture


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(openai_wire.echo) as fake:
        yield fake
