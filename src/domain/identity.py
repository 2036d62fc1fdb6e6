"""Who is calling (``Principal``), with what limits, and the API keys the service issues.

An API key is ``orch_`` + 43 url-safe characters (256 random bits), stored only as its SHA-256
digest: with that much entropy a plain digest can be neither reversed nor brute-forced, and a
keyed hash would add a second secret to rotate without adding safety.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from src.domain.entities import DEFAULT_OWNER

KEY_PREFIX = "orch_"
#: Characters of a key shown in listings to tell keys apart (``orch_`` plus eight).
SHOWN_PREFIX_CHARS = len(KEY_PREFIX) + 8


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-key limits (``None``: unlimited) and, for the budget, the key's spend as recorded
    in the database when its credential was checked."""

    rate_limit_rpm: int | None = None
    token_limit_tpm: int | None = None
    budget_usd: Decimal | None = None
    spent_usd: Decimal = Decimal(0)

    @property
    def windowed(self) -> bool:
        """Whether a per-minute window applies (and the X-RateLimit headers with it)."""
        return self.rate_limit_rpm is not None or self.token_limit_tpm is not None


UNLIMITED = Limits()


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request: which tenant's data it sees and what it may spend.

    ``key_id`` names the API key (``None`` for the admin key, a JWT or open mode).
    """

    tenant: str
    key_id: str | None = None
    is_admin: bool = False
    limits: Limits = UNLIMITED

    @property
    def scope(self) -> str | None:
        """The owner that session reads are scoped to; ``None`` (every tenant) for the admin."""
        return None if self.is_admin else self.tenant


#: The caller in open mode: one tenant, no credential, no limits, no key management.
OPEN_PRINCIPAL = Principal(tenant=DEFAULT_OWNER)
#: The operator's admin key: sees every tenant; its own sessions belong to ``default``.
ADMIN_PRINCIPAL = Principal(tenant=DEFAULT_OWNER, is_admin=True)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An issued key as stored: its digest, never the secret; ``spent_usd`` is the sum of
    its call records' cost, kept beside it in the same transactions."""

    id: str
    name: str
    tenant: str
    prefix: str
    secret_hash: str
    created_at: datetime
    limits: Limits = field(default_factory=Limits)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    spent_usd: Decimal = Decimal(0)

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def principal(self) -> Principal:
        limits = replace(self.limits, spent_usd=self.spent_usd)
        return Principal(tenant=self.tenant, key_id=self.id, limits=limits)


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
