"""The API key repository (rows of ``api_keys`` to and from ``ApiKey``), and the read path
every authenticated request takes (``SqlKeyLookup``).

The lookup is one select on the unique index of ``secret_hash``, built once, on an engine of
its own in autocommit mode: no transaction to begin and roll back around a single read,
which on SQLite saves a round trip to aiosqlite's thread per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.identity import ApiKey, Limits
from src.infrastructure.persistence.repositories import (
    SqlWork,
    from_picodollars,
    to_picodollars,
)
from src.infrastructure.persistence.tables import API_KEYS

_BY_DIGEST = sa.select(API_KEYS).where(API_KEYS.c.secret_hash == sa.bindparam("secret_hash"))


class SqlApiKeyRepository:
    def __init__(self, work: SqlWork) -> None:
        self._work = work

    async def add(self, key: ApiKey) -> None:
        limits = key.limits
        self._work.insert(
            API_KEYS,
            [
                {
                    "id": key.id,
                    "name": key.name,
                    "tenant": key.tenant,
                    "prefix": key.prefix,
                    "secret_hash": key.secret_hash,
                    "created_at": key.created_at,
                    "expires_at": key.expires_at,
                    "revoked_at": key.revoked_at,
                    "rate_limit_rpm": limits.rate_limit_rpm,
                    "token_limit_tpm": limits.token_limit_tpm,
                    "budget": to_picodollars(limits.budget_usd),
                    "spent": to_picodollars(key.spent_usd),
                }
            ],
        )

    async def by_digest(self, secret_hash: str) -> ApiKey | None:
        rows = await self._work.rows(_BY_DIGEST, {"secret_hash": secret_hash})
        return _key(rows[0]) if rows else None

    async def all(self) -> Sequence[ApiKey]:
        statement = sa.select(API_KEYS).order_by(API_KEYS.c.created_at, API_KEYS.c.id)
        return [_key(row) for row in await self._work.rows(statement)]

    async def revoke(self, key_id: str, at: datetime) -> bool:
        result = await self._work.execute(
            sa.update(API_KEYS)
            .where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return cast(sa.CursorResult[Any], result).rowcount > 0

    async def any_usable(self, now: datetime) -> bool:
        keys = API_KEYS.c
        statement = (
            sa.select(keys.id)
            .where(
                keys.revoked_at.is_(None), sa.or_(keys.expires_at.is_(None), keys.expires_at > now)
            )
            .limit(1)
        )
        return bool(await self._work.rows(statement))


class SqlKeyLookup:
    """``KeyLookup`` on an engine created with ``isolation_level="AUTOCOMMIT"``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def by_digest(self, secret_hash: str) -> ApiKey | None:
        async with self._engine.connect() as connection:
            result = await connection.execute(_BY_DIGEST, {"secret_hash": secret_hash})
            row = result.first()
        return None if row is None else _key(row)


def _key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        tenant=row.tenant,
        prefix=row.prefix,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        spent_usd=from_picodollars(row.spent) or Decimal(0),
        limits=Limits(
            rate_limit_rpm=row.rate_limit_rpm,
            token_limit_tpm=row.token_limit_tpm,
            budget_usd=from_picodollars(row.budget),
        ),
    )
