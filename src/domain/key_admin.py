"""Issuing, listing and revoking API keys (the operator's ``/api/admin/keys``).

The secret exists in memory only while the creating request is answered: ``issue`` returns
it once beside the stored ``ApiKey``, which holds its digest. Revocation is one UPDATE; every
replica reads keys through the database on each request, so it takes effect at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from src.domain.accounting import new_id
from src.domain.errors import InvalidInput, KeyNotFound
from src.domain.identity import SHOWN_PREFIX_CHARS, ApiKey, Limits, digest, new_secret
from src.domain.ports import Clock, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class KeyStatus:
    key: ApiKey
    spent_usd: Decimal
    active: bool


class KeyAdmin:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def issue(
        self,
        name: str,
        *,
        tenant: str | None = None,
        limits: Limits | None = None,
        expires_at: datetime | None = None,
    ) -> IssuedKey:
        """A new key; ``tenant`` defaults to the key's own id (a tenant of its own)."""
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expires_at is in the past", details={"field": "expires_at"})
        key_id = new_id("key")
        secret = new_secret()
        key = ApiKey(
            id=key_id,
            name=name,
            tenant=tenant or key_id,
            prefix=secret[:SHOWN_PREFIX_CHARS],
            secret_hash=digest(secret),
            created_at=now,
            limits=limits or Limits(),
            expires_at=expires_at,
        )
        async with self._uow() as uow:
            await uow.keys.add(key)
            await uow.commit()
        return IssuedKey(key, secret)

    async def list(self) -> Sequence[KeyStatus]:
        now = self._clock.now()
        async with self._uow() as uow:
            keys = await uow.keys.all()
        return [KeyStatus(k, k.spent_usd, k.usable_at(now)) for k in keys]

    async def revoke(self, key_id: str) -> None:
        """Revokes the key; revoking a revoked key changes nothing and is not an error."""
        async with self._uow() as uow:
            revoked = await uow.keys.revoke(key_id, self._clock.now())
            if not revoked and not any(k.id == key_id for k in await uow.keys.all()):
                raise KeyNotFound(key_id)
            await uow.commit()
