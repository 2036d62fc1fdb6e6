"""Domain objects with sensible defaults, so each test states only what it is about."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from src.domain.entities import CallRecord, Message, MessageRole, Session, SummaryVersion
from src.domain.llm import TokenUsage

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def a_session(**changes: Any) -> Session:
    return replace(Session(id=new_id("sess"), created_at=T0, updated_at=T0), **changes)


def a_message(session: Session, seq: int, **changes: Any) -> Message:
    role: MessageRole = "user" if seq % 2 else "assistant"
    message = Message(
        id=new_id("msg"),
        session_id=session.id,
        seq=seq,
        role=role,
        content=f"message {seq}",
        created_at=T0 + timedelta(seconds=seq),
    )
    return replace(message, **changes)


def a_summary(session: Session, version: int, **changes: Any) -> SummaryVersion:
    summary = SummaryVersion(
        session_id=session.id,
        version=version,
        content=f"summary {version}",
        from_seq=1,
        to_seq=2 * version,
        created_at=T0,
        provider="openai",
        model="gpt-4o-mini",
    )
    return replace(summary, **changes)


def a_call(session_id: str | None, **changes: Any) -> CallRecord:
    call = CallRecord(
        id=new_id("call"),
        session_id=session_id,
        kind="turn",
        provider="openai",
        model="gpt-4o-mini",
        usage=TokenUsage(input_tokens=100, output_tokens=20),
        cost=Decimal("0.0000375"),
        latency_s=0.5,
        created_at=T0,
    )
    return replace(call, **changes)
