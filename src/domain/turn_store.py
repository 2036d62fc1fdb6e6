"""The turn's two database steps: replaying an idempotent reply, persisting a settlement."""

from __future__ import annotations

from src.domain.errors import IdempotencyConflict
from src.domain.ports import UnitOfWorkFactory
from src.domain.settlement import Settlement
from src.domain.turns import TurnCommand, TurnResult


class TurnStore:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def replay(self, cmd: TurnCommand) -> TurnResult | None:
        """The reply stored under the command's idempotency key, if any; a key reused with a
        different request is a conflict."""
        if cmd.idempotency_key is None:
            return None
        async with self._uow() as uow:
            stored = await uow.idempotency.get(cmd.owner, cmd.idempotency_key)
        if stored is None:
            return None
        fingerprint, reply = stored
        if fingerprint != cmd.fingerprint():
            raise IdempotencyConflict(cmd.idempotency_key)
        return TurnResult.from_record(reply)

    async def persist(self, cmd: TurnCommand, settlement: Settlement) -> TurnResult | None:
        """Writes everything the turn settled in one transaction; its result (or, when a
        concurrent first attempt with the same key won, that attempt's)."""
        async with self._uow() as uow:
            if settlement.session is not None:
                if settlement.is_new:
                    await uow.sessions.add(settlement.session)
                else:
                    await uow.sessions.update(settlement.session)
                await uow.messages.add_many(settlement.messages)
            if settlement.summary is not None:
                await uow.summaries.add(settlement.summary)
            for call in settlement.calls:
                await uow.calls.add(call)
            if (kept := settlement.idempotency) is not None:
                await uow.idempotency.add(
                    kept.owner, kept.key, kept.fingerprint, kept.session_id, kept.reply.to_record()
                )
            try:
                await uow.commit()
            except IdempotencyConflict:
                if (replay := await self.replay(cmd)) is not None:
                    return replay
                raise
        return settlement.result
