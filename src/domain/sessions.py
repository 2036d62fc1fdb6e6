"""Sessions as records: create, read, list and delete, within one owner (tenant); an owner
of ``None`` (the admin) spans every tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from src.domain.accounting import new_id
from src.domain.entities import DEFAULT_OWNER, Session
from src.domain.errors import SessionNotFound
from src.domain.ports import Ports


class SessionBook:
    def __init__(self, ports: Ports, *, lock_timeout_s: float) -> None:
        self._uow = ports.uow
        self._locks = ports.locks
        self._clock = ports.clock
        self._lock_timeout_s = lock_timeout_s

    async def create(
        self,
        *,
        owner: str = DEFAULT_OWNER,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        system_prompt: str | None = None,
    ) -> Session:
        now = self._clock.now()
        session = Session(
            id=new_id("sess"),
            created_at=now,
            updated_at=now,
            owner=owner,
            user_id=user_id,
            metadata=dict(metadata or {}),
            system_prompt=system_prompt,
        )
        async with self._uow() as uow:
            await uow.sessions.add(session)
            await uow.commit()
        return session

    async def get(self, session_id: str, owner: str | None = DEFAULT_OWNER) -> Session:
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, owner)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    async def list(
        self, *, owner: str | None = DEFAULT_OWNER, user_id: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Session], int]:
        async with self._uow() as uow:
            sessions = await uow.sessions.list(owner, user_id, limit, offset)
            total = await uow.sessions.count(owner, user_id)
        return sessions, total

    async def delete(self, session_id: str, owner: str | None = DEFAULT_OWNER) -> None:
        """Deletes once no turn is running on the session, so no turn writes after it."""
        async with self._locks.hold(session_id, self._lock_timeout_s), self._uow() as uow:
            deleted = await uow.sessions.delete(session_id, owner)
            await uow.commit()
        if not deleted:
            raise SessionNotFound(session_id)
