"""The things the gateway remembers: sessions, their messages, summaries and provider calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from src.domain.llm import ContentPart, TokenUsage, ToolCall

MessageRole = Literal["user", "assistant", "tool"]
CallKind = Literal["turn", "summary"]
DEFAULT_OWNER = "default"


@dataclass(slots=True)
class Session:
    """A conversation held for a backend.

    ``message_count`` is also the sequence number of the newest message (messages are never
    removed while the session lives). ``summary`` is the current running summary and covers
    every message up to ``summary_through_seq``; the live window is everything after it.
    ``live_tokens`` is the estimated token size of that live window (see ``memory``).
    """

    id: str
    created_at: datetime
    updated_at: datetime
    owner: str = DEFAULT_OWNER
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    status: str = "active"
    message_count: int = 0
    summary: str | None = None
    summary_through_seq: int = 0
    summary_version: int = 0
    live_tokens: int = 0

    @property
    def live_count(self) -> int:
        return self.message_count - self.summary_through_seq


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message; provider, model, tokens and cost are set on assistant messages.

    An assistant message may carry ``tool_calls``; a ``tool`` message is the result of the call
    ``tool_call_id`` to the function ``tool_name``. ``parts``, when not empty, is the content as
    text and image parts (``content`` is then its text).
    """

    id: str
    session_id: str
    seq: int
    role: MessageRole
    content: str
    created_at: datetime
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: Decimal | None = None
    reasoning_content: str | None = None
    interrupted: bool = False
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    parts: tuple[ContentPart, ...] = ()
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SummaryVersion:
    """One running summary, covering messages ``from_seq``..``to_seq`` of its session."""

    session_id: str
    version: int
    content: str
    from_seq: int
    to_seq: int
    created_at: datetime
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One provider call (a turn or a summarization), the unit every metric sums over."""

    id: str
    session_id: str | None
    kind: CallKind
    provider: str
    model: str
    usage: TokenUsage
    cost: Decimal | None
    latency_s: float
    created_at: datetime
    ok: bool = True
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class CallTotals:
    """Sums over call records sharing a provider and kind."""

    provider: str
    kind: CallKind
    calls: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost: Decimal = Decimal(0)
    calls_with_unknown_cost: int = 0
    latency_s_sum: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Counts over all sessions of an owner, for the global metrics."""

    active: int
    total: int
    avg_duration_s: float
