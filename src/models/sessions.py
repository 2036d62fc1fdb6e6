"""Contracts of the session endpoints: create, read, list, history and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.models.text import StorableJson, StorableText
from src.models.tools import ToolCallOut


class CreateSessionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "user_123", "metadata": {"channel": "web"}, "system_prompt": None}
            ]
        },
    )

    user_id: StorableText | None = Field(None, max_length=256)
    metadata: StorableJson = Field(default_factory=dict)
    system_prompt: StorableText | None = None


class SessionResponse(BaseModel):
    session_id: str = Field(examples=["sess_4f9c2d7e8a1b4c3d9e0f1a2b3c4d5e6f"])
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    status: str = Field(examples=["active"])
    message_count: int
    summary: str | None
    metadata: dict[str, Any]
    system_prompt: str | None = None


class SessionList(BaseModel):
    sessions: list[SessionResponse]
    total: int
    limit: int
    offset: int


class MessageOut(BaseModel):
    id: str
    role: Literal["user", "assistant", "tool"]
    content: str
    timestamp: datetime
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    reasoning_content: str | None = None
    interrupted: bool = False
    tool_calls: list[ToolCallOut] = Field(
        default_factory=list, description="On an assistant message that called tools."
    )
    tool_call_id: str | None = Field(None, description="On a tool message: the call it answers.")
    tool_name: str | None = Field(None, description="On a tool message: the function called.")
    content_parts: list[dict[str, Any]] = Field(
        default_factory=list, description="The message as text and image_url parts, if sent so."
    )
    finish_reason: str | None = None


class HistoryResponse(BaseModel):
    session_id: str
    messages: list[MessageOut]
    summary: str | None
    total: int
    has_more: bool


class ProviderBreakdown(BaseModel):
    turns: int
    tokens: int
    cost: float
    average_response_time: float


class SessionMetricsResponse(BaseModel):
    session_id: str
    message_count: int
    providers_used: list[str]
    total_tokens: int
    input_tokens: int
    output_tokens: int
    total_cost: float
    calls_with_unknown_cost: int = Field(
        description="Calls whose model has no known price; their cost is not in total_cost."
    )
    summary_count: int
    summary_tokens: int
    summary_cost: float
    average_response_time: float
    last_summary_at: datetime | None
    created_at: datetime
    by_provider: dict[str, ProviderBreakdown]
