"""The served application against fake upstreams, as the integration tests have it."""

from __future__ import annotations

from tests.integration.conftest import start_service, upstreams  # noqa: F401
