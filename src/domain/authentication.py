"""How a bearer token becomes a ``Principal``: the admin key, an issued API key or a JWT.

Each request looks its API key up by digest in the database (``KeyLookup``: one indexed
select, no cache): a revoked key stops working on every replica at once, with nothing to
invalidate. A token is never logged or echoed; errors name the key's id at most.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from src.domain.errors import Unauthorized
from src.domain.identity import (
    ADMIN_PRINCIPAL,
    KEY_PREFIX,
    OPEN_PRINCIPAL,
    ApiKey,
    Principal,
    digest,
)
from src.domain.ports import Clock, UnitOfWorkFactory


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal a JWT names; raises ``Unauthorized`` for any token it cannot accept."""
        ...


class KeyLookup(Protocol):
    async def by_digest(self, secret_hash: str) -> ApiKey | None:
        """The key stored under this digest, as the database has it now."""
        ...


class UnitOfWorkKeyLookup:
    """A ``KeyLookup`` through the unit of work, for stores without a faster read path."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def by_digest(self, secret_hash: str) -> ApiKey | None:
        async with self._uow() as uow:
            return await uow.keys.by_digest(secret_hash)


class Authenticator:
    """Turns a bearer token into a ``Principal``; ``open_mode`` accepts any caller as
    ``OPEN_PRINCIPAL`` (set at start-up when no credential source exists)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        admin_key: str | None = None,
        jwt: TokenVerifier | None = None,
        enabled: bool = True,
        lookup: KeyLookup | None = None,
    ) -> None:
        self._uow = uow
        self._lookup = lookup or UnitOfWorkKeyLookup(uow)
        self._clock = clock
        self._admin_digest = digest(admin_key) if admin_key else None
        self._jwt = jwt
        self.open_mode = not enabled or (admin_key is None and jwt is None)
        self.enabled = enabled

    @property
    def has_static_credentials(self) -> bool:
        return self._admin_digest is not None or self._jwt is not None

    async def decide_mode(self) -> bool:
        """Open mode holds only while no credential source exists, stored keys included."""
        if self.enabled and not self.has_static_credentials:
            async with self._uow() as uow:
                self.open_mode = not await uow.keys.any_usable(self._clock.now())
        return self.open_mode

    async def authenticate(self, token: str | None) -> Principal:
        if self.open_mode:
            return OPEN_PRINCIPAL
        if not token:
            raise Unauthorized("send a credential as 'Authorization: Bearer <key>'")
        token_digest = digest(token)
        if self._admin_digest is not None and hmac.compare_digest(token_digest, self._admin_digest):
            return ADMIN_PRINCIPAL
        if token.startswith(KEY_PREFIX):
            return await self._api_key(token_digest)
        if self._jwt is not None and token.count(".") == 2:
            return self._jwt.verify(token)
        raise Unauthorized("the credential is not a key this service issued")

    async def _api_key(self, token_digest: str) -> Principal:
        key = await self._lookup.by_digest(token_digest)
        if key is None or not hmac.compare_digest(key.secret_hash, token_digest):
            raise Unauthorized("the API key is not known")
        if not key.usable_at(self._clock.now()):
            raise Unauthorized(f"the API key {key.id} is revoked or expired")
        return key.principal()
