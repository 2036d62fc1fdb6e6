"""Fixtures every test directory may use."""

from tests.shared_servers import postgres_database, redis_prefix

__all__ = ["postgres_database", "redis_prefix"]
