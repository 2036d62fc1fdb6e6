"""The API key repository (rows of ``api_keys`` to and from ``ApiKey``), and the read path
every authenticated request takes (``SqlKeyLookup``).

The lookup is one select on the unique index of ``secret_hash``, compiled once and run by the
raw driver outside any transaction: no unit of work to open and close around a single read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from src.domain.identity import ApiKey, Limits
from src.infrastructure.persistence.repositories import Work, from_picodollars, to_picodollars
from src.infrastructure.persistence.tables import API_KEYS
from src.infrastructure.persistence.writes import Insert

if TYPE_CHECKING:
    from src.infrastructure.persistence.unit_of_work import Database

_keys = API_KEYS.c
_BY_DIGEST = sa.select(API_KEYS).where(_keys.secret_hash == sa.bindparam("secret_hash"))
_ALL = sa.select(API_KEYS).order_by(_keys.created_at, _keys.id)
_REVOKE = (
    sa.update(API_KEYS)
    .where(_keys.id == sa.bindparam("key_id"), _keys.revoked_at.is_(None))
    .values(revoked_at=sa.bindparam("at", type_=_keys.revoked_at.type))
)
_ANY_USABLE = (
    sa.select(_keys.id)
    .where(
        _keys.revoked_at.is_(None),
        sa.or_(
            _keys.expires_at.is_(None),
            _keys.expires_at > sa.bindparam("now", type_=_keys.expires_at.type),
        ),
    )
    .limit(1)
)


class SqlApiKeyRepository:
    def __init__(self, work: Work) -> None:
        self._work = work

    async def add(self, key: ApiKey) -> None:
        limits = key.limits
        row = {
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
        self._work.queue(Insert(API_KEYS, [row]))

    async def by_digest(self, secret_hash: str) -> ApiKey | None:
        rows = await self._work.rows(_BY_DIGEST, {"secret_hash": secret_hash})
        return _key(rows[0]) if rows else None

    async def all(self) -> Sequence[ApiKey]:
        return [_key(row) for row in await self._work.rows(_ALL, {})]

    async def revoke(self, key_id: str, at: datetime) -> bool:
        return await self._work.execute(_REVOKE, {"key_id": key_id, "at": at}) > 0

    async def any_usable(self, now: datetime) -> bool:
        return bool(await self._work.rows(_ANY_USABLE, {"now": now}))


class SqlKeyLookup:
    """``KeyLookup`` straight on the raw database, one read per request."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def by_digest(self, secret_hash: str) -> ApiKey | None:
        compiled = self._database.compiler.of(_BY_DIGEST)
        rows = await self._database.fetch(_BY_DIGEST, {"secret_hash": secret_hash})
        return _key(compiled.row(rows[0])) if rows else None


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        tenant=row["tenant"],
        prefix=row["prefix"],
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        spent_usd=from_picodollars(row["spent"]) or Decimal(0),
        limits=Limits(
            rate_limit_rpm=row["rate_limit_rpm"],
            token_limit_tpm=row["token_limit_tpm"],
            budget_usd=from_picodollars(row["budget"]),
        ),
    )
