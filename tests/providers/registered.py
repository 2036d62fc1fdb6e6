"""The registry's entries by provider name, for tests that build one adapter directly."""

from __future__ import annotations

from datetime import UTC, datetime

from src.domain.llm import ProviderSpec
from src.infrastructure.llm_providers.registry import PROVIDER_ADAPTERS, ProviderEntry


def entry(name: str) -> ProviderEntry:
    return next(e for e in PROVIDER_ADAPTERS if e.SPEC.name == name)


def spec_of(name: str) -> ProviderSpec:
    """The spec the registry hands the adapter (before any ``<NAME>_DEFAULT_MODEL``)."""
    return entry(name).SPEC


#: When the golden costs of the provider tests are priced: prices change over time (DeepSeek's
#: peak hours, gemini-3.8-flash doubling on 2027-01-01), golden figures must not.
PRICED_AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
