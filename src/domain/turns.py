"""A turn as asked for (``TurnCommand``) and as answered (``TurnResult``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from src.domain.entities import Message
from src.domain.identity import OPEN_PRINCIPAL, Principal
from src.domain.llm import (
    ChatMessage,
    ContentPart,
    ResponseFormat,
    TextDelta,
    TokenUsage,
    ToolCall,
    ToolCallReady,
    ToolChoice,
    ToolDefinition,
)


@dataclass(frozen=True, slots=True)
class Target:
    """A provider (None: the configured default) and a model (None: the provider's default)."""

    provider: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The client's answer to one tool call the model made."""

    tool_call_id: str
    content: str


@dataclass(frozen=True, slots=True)
class TurnCommand:
    """One turn as asked for.

    ``transcript``, when set, makes the turn stateless: that whole conversation is sent as it
    is and nothing is stored but the call records (the OpenAI-compatible front door without a
    session). Otherwise ``message`` is the new user message of session ``session_id`` (None:
    a new session); it may be empty when ``tool_results`` answer the calls of the session's
    last reply. ``parts`` is the new message as text and image parts, when it has images.
    ``tools``, ``tool_choice``, ``response_format`` and ``options`` (further parameters under
    their OpenAI names) go to the provider as they are, or the turn is refused before any
    call when the provider cannot honour them. ``principal`` is the caller: its tenant owns
    the session, its key's limits admit and are charged for the turn.
    """

    message: str
    session_id: str | None = None
    target: Target | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None
    fallbacks: tuple[Target, ...] = ()
    idempotency_key: str | None = None
    transcript: tuple[ChatMessage, ...] | None = None
    tool_results: tuple[ToolResult, ...] = ()
    parts: tuple[ContentPart, ...] = ()
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    options: tuple[tuple[str, Any], ...] = ()
    principal: Principal = OPEN_PRINCIPAL

    @property
    def owner(self) -> str:
        """The tenant whose session this turn reads and writes: the principal's."""
        return self.principal.tenant

    def fingerprint(self) -> str:
        """A digest of everything that shapes the reply, to tell a retry from a new request.

        Of the principal, only the owner shapes it (not the key or its limits), spelt as
        before the principal was a field, so that a key stored by an earlier version still
        tells its retries apart."""
        fields = asdict(self)
        del fields["idempotency_key"], fields["principal"]
        fields["owner"] = self.owner
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
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None

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
        data["tool_calls"] = tuple(ToolCall(**call) for call in data.get("tool_calls", ()))
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
