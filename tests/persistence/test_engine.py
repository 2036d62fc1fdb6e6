"""Connection settings the rest of the code silently relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from src.infrastructure.persistence.engine import create_engine


async def test_sqlite_connections_use_wal_foreign_keys_and_wait_for_the_writer(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as connection:
            settings = {
                pragma: await connection.scalar(sa.text(f"PRAGMA {pragma}"))
                for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert settings == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }


@pytest.mark.parametrize(
    ("url", "reason"),
    [("mysql+aiomysql://db/orchestrator", "mysql"), ("sqlite+aiosqlite://", "in-memory")],
)
def test_an_unsupported_database_is_refused(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        create_engine(url)
