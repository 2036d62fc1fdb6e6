"""A turn as asked for (``TurnCommand``) and as answered (``TurnResult``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from src.domain.entities import DEFAULT_OWNER, Message
from src.domain.llm import ChatMessage, TextDelta, TokenUsage, ToolCallReady, ToolDefinition


@dataclass(frozen=True, slots=True)
class Target:
    """A provider (None: the configured default) and a model (None: the provider's default)."""

    provider: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class TurnCommand:
    """One turn as asked for.

    ``transcript``, when set, makes the turn stateless: that whole conversation is sent as it
    is and nothing is stored but the call records (the OpenAI-compatible front door without a
    session). Otherwise ``message`` is the new user message of session ``session_id`` (None:
    a new session).
    """

    message: str
    session_id: str | None = None
    target: Target | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None
    tools: tuple[ToolDefinition, ...] = ()
    fallbacks: tuple[Target, ...] = ()
    owner: str = DEFAULT_OWNER
    idempotency_key: str | None = None
    transcript: tuple[ChatMessage, ...] | None = None

    def fingerprint(self) -> str:
        """A digest of everything that shapes the reply, to tell a retry from a new request."""
        fields = asdict(self)
        fields.pop("idempotency_key")
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TurnResult:
    response: str
    provider: str
    model: str
    session_id: str | None
    message_count: int
    timestamp: datetime
    execution_time: float
    usage: TokenUsage
    cost: Decimal | None
    was_summarized: bool = False
    summary_tokens: int = 0
    summary_cost: Decimal | None = Decimal(0)
    fallback_from: str | None = None
    reasoning_content: str | None = None
    interrupted: bool = False

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe form, stored with an idempotency key and replayed as it was."""
        record = asdict(self)
        record["timestamp"] = self.timestamp.isoformat()
        record["cost"] = None if self.cost is None else str(self.cost)
        record["summary_cost"] = None if self.summary_cost is None else str(self.summary_cost)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TurnResult:
        data = dict(record)
        data["timestamp"] = datetime.fromisoformat(data["timestamp"])
        data["usage"] = TokenUsage(**data["usage"])
        for key in ("cost", "summary_cost"):
            data[key] = None if data[key] is None else Decimal(data[key])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class TurnDone:
    """The last event of a turn that answered."""

    result: TurnResult


@dataclass(frozen=True, slots=True)
class HistoryPage:
    session_id: str
    messages: tuple[Message, ...]
    summary: str | None
    total: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class SessionOpened:
    """First event of a session's turn, once its memory is loaded: which session it is."""

    session_id: str


TurnEvent = SessionOpened | TextDelta | ToolCallReady | TurnDone
