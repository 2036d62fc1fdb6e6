"""The ports the domain needs from the outside world, as Protocols.

Persistence follows the repository + unit-of-work pattern: a unit of work is one database
transaction; nothing is written until ``commit``; leaving the block without committing rolls
back.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from src.domain.agents import AgentPreset
from src.domain.entities import (
    CallRecord,
    CallTotals,
    Message,
    Session,
    SessionStats,
    SummaryVersion,
)
from src.domain.identity import ApiKey
from src.domain.llm import LLMProvider
from src.domain.pricing import ModelPrice


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for measuring durations."""
        ...


class PriceBook(Protocol):
    def price_of(self, provider: str, model: str, at: datetime) -> ModelPrice | None:
        """The model's price in force at ``at``, or ``None`` when the model has no price."""
        ...


class CallObserver(Protocol):
    """Told of every provider call as it is accounted, and of every finished turn, so live
    metrics (per process) need no query of the stored records."""

    def call_recorded(self, record: CallRecord) -> None: ...

    def turn_finished(
        self, provider: str, model: str, seconds: float, interrupted: bool
    ) -> None: ...


class ProviderDirectory(Protocol):
    """Finds the adapter for a provider name (already wrapped with retries and breaker)."""

    @property
    def default_provider(self) -> str: ...

    def get(self, name: str) -> LLMProvider:
        """Raises ``InvalidInput`` for an unknown name, ``ProviderNotConfigured`` without a key."""
        ...

    def resolve(self, provider: str | None, model: str | None) -> tuple[str, str]:
        """The ``(provider, model)`` that serve a target (see ``src.domain.targets``).

        No provider: the one whose model list or prices know ``model``, else the default. No
        model: the provider's default model. Raises ``InvalidInput`` for an unknown provider.
        """
        ...


class SessionLocks(Protocol):
    def hold(self, session_id: str, timeout_s: float) -> AbstractAsyncContextManager[None]:
        """Exclusive hold on a session across every process sharing the database.

        Raises ``SessionBusy`` when it cannot be had within ``timeout_s``.
        """
        ...


class SessionRepository(Protocol):
    """``owner`` scopes every read and delete to one tenant; ``None`` (the admin) spans all."""

    async def add(self, session: Session) -> None: ...

    async def get(self, session_id: str, owner: str | None) -> Session | None: ...

    async def update(self, session: Session) -> None:
        """Writes every mutable field of ``session`` (counters, summary, metadata, status)."""
        ...

    async def delete(self, session_id: str, owner: str | None) -> bool:
        """Deletes the session with its messages, summaries and idempotency records."""
        ...

    async def list(
        self, owner: str | None, user_id: str | None, limit: int, offset: int
    ) -> Sequence[Session]:
        """Newest first."""
        ...

    async def count(self, owner: str | None, user_id: str | None) -> int: ...

    async def stats(self, owner: str | None) -> SessionStats:
        """Across every owner when ``owner`` is None."""
        ...


class MessageRepository(Protocol):
    async def add_many(self, messages: Sequence[Message]) -> None: ...

    async def tail(
        self, session_id: str, after_seq: int, limit: int, newest_seq: int
    ) -> Sequence[Message]:
        """The last ``limit`` messages with ``after_seq < seq <= newest_seq``, oldest first.

        ``newest_seq`` is the session's ``message_count`` as just read: it tells a cached
        window that is still true from a stale one.
        """
        ...

    async def between(self, session_id: str, from_seq: int, to_seq: int) -> Sequence[Message]:
        """Messages with ``from_seq <= seq <= to_seq``, oldest first."""
        ...

    async def page(self, session_id: str, limit: int, offset: int) -> Sequence[Message]:
        """Oldest first, skipping ``offset`` messages."""
        ...


class SummaryRepository(Protocol):
    async def add(self, summary: SummaryVersion) -> None: ...

    async def all(self, session_id: str) -> Sequence[SummaryVersion]:
        """Every version, oldest first."""
        ...


class CallRepository(Protocol):
    async def add(self, record: CallRecord) -> None:
        """Also adds the call's cost to its API key's ``spent_usd``, in the same transaction
        (the SQL adapter leaves that to a trigger)."""
        ...

    async def totals(
        self, session_id: str | None, tenant: str | None = None
    ) -> Sequence[CallTotals]:
        """Sums per (provider, kind): of one session, or of every call when None; of one
        tenant's calls when ``tenant`` is given."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def by_digest(self, secret_hash: str) -> ApiKey | None: ...

    async def all(self) -> Sequence[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """False when no such key exists or it was already revoked."""
        ...

    async def any_usable(self, now: datetime) -> bool: ...


class IdempotencyRepository(Protocol):
    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """The (request fingerprint, stored reply) saved under this key, if any."""
        ...

    async def add(
        self, owner: str, key: str, fingerprint: str, session_id: str, reply: dict[str, Any]
    ) -> None: ...


class AgentRepository(Protocol):
    """Agent presets, each found by (tenant, name)."""

    async def add(self, preset: AgentPreset) -> None:
        """Raises ``AgentExists`` when the tenant has a preset of that name (at the latest at
        ``commit``)."""
        ...

    async def get(self, tenant: str, name: str) -> AgentPreset | None: ...

    async def list(self, tenant: str) -> Sequence[AgentPreset]:
        """By name."""
        ...

    async def update(self, preset: AgentPreset) -> None:
        """Writes the settings and ``updated_at`` of a preset that exists."""
        ...

    async def delete(self, tenant: str, name: str) -> bool: ...


class UnitOfWork(Protocol):
    sessions: SessionRepository
    messages: MessageRepository
    summaries: SummaryRepository
    calls: CallRepository
    idempotency: IdempotencyRepository
    keys: ApiKeyRepository
    agents: AgentRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None:
        """Raises ``IdempotencyConflict`` if an idempotency key was stored meanwhile."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything outside the domain that sessions and turns work with, handed in once."""

    uow: UnitOfWorkFactory
    providers: ProviderDirectory
    prices: PriceBook
    locks: SessionLocks
    clock: Clock
    observer: CallObserver | None = None
