"""The session manager: one façade over the session book, the read side and the turn pipeline.

The API layer and the CLI hold one of these; each method delegates to the module that owns it
(``sessions``, ``queries``, ``turn``), so each step is written once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from src.domain.admission import Admission
from src.domain.memory import MemoryPolicy
from src.domain.ports import Ports
from src.domain.queries import SessionQueries
from src.domain.sessions import SessionBook
from src.domain.turn import TurnPipeline
from src.domain.turns import TurnCommand, TurnEvent, TurnResult


class SessionManager:
    def __init__(
        self, ports: Ports, policy: MemoryPolicy, admission: Admission | None = None
    ) -> None:
        self.sessions = SessionBook(ports, lock_timeout_s=policy.lock_timeout_s)
        self.queries = SessionQueries(ports.uow)
        self.turns = TurnPipeline(ports, policy, admission)
        self.create_session = self.sessions.create
        self.get_session = self.sessions.get
        self.list_sessions = self.sessions.list
        self.delete_session = self.sessions.delete
        self.history = self.queries.history
        self.session_metrics = self.queries.session_metrics
        self.global_usage = self.queries.global_usage

    async def run_turn(self, cmd: TurnCommand) -> TurnResult:
        return await self.turns.run(cmd)

    def stream_turn(self, cmd: TurnCommand) -> AsyncIterator[TurnEvent]:
        """A turn whose reply is forwarded as it is generated."""
        return self.turns.events(cmd, streaming=True)
