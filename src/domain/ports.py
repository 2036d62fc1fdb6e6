"""The ports the domain needs from the outside world, as Protocols.

Persistence follows the repository + unit-of-work pattern: a unit of work is one database
transaction; nothing is written until ``commit``; leaving the block without committing rolls
back.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from src.domain.entities import (
    CallRecord,
    CallTotals,
    Message,
    Session,
    SessionStats,
    SummaryVersion,
)
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


class SessionLocks(Protocol):
    def hold(self, session_id: str, timeout_s: float) -> AbstractAsyncContextManager[None]:
        """Exclusive hold on a session across every process sharing the database.

        Raises ``SessionBusy`` when it cannot be had within ``timeout_s``.
        """
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def get(self, session_id: str, owner: str) -> Session | None: ...

    async def update(self, session: Session) -> None:
        """Writes every mutable field of ``session`` (counters, summary, metadata, status)."""
        ...

    async def delete(self, session_id: str, owner: str) -> bool:
        """Deletes the session with its messages, summaries and idempotency records."""
        ...

    async def list(
        self, owner: str, user_id: str | None, limit: int, offset: int
    ) -> Sequence[Session]:
        """Newest first."""
        ...

    async def count(self, owner: str, user_id: str | None) -> int: ...

    async def stats(self, owner: str | None) -> SessionStats:
        """Across every owner when ``owner`` is None."""
        ...


class MessageRepository(Protocol):
    async def add_many(self, messages: Sequence[Message]) -> None: ...

    async def tail(self, session_id: str, after_seq: int, limit: int) -> Sequence[Message]:
        """The last ``limit`` messages with ``seq > after_seq``, oldest first."""
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
    async def add(self, record: CallRecord) -> None: ...

    async def totals(self, session_id: str | None) -> Sequence[CallTotals]:
        """Sums per (provider, kind): of one session, or of every call when None."""
        ...


class IdempotencyRepository(Protocol):
    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """The (request fingerprint, stored reply) saved under this key, if any."""
        ...

    async def add(
        self, owner: str, key: str, fingerprint: str, session_id: str, reply: dict[str, Any]
    ) -> None: ...


class UnitOfWork(Protocol):
    sessions: SessionRepository
    messages: MessageRepository
    summaries: SummaryRepository
    calls: CallRepository
    idempotency: IdempotencyRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None:
        """Raises ``IdempotencyConflict`` if an idempotency key was stored meanwhile."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
