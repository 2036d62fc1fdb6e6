"""What the provider tests share: one fake upstream per module, fresh for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.upstream import FakeUpstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    """The module's fake upstream, with no queued replies and nothing received yet."""
    upstream.reset()
    return upstream
