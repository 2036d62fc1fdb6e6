"""Contracts of ``POST /api/orchestrate``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.models.text import StorableText

_EXAMPLE_SESSION = "sess_4f9c2d7e8a1b4c3d9e0f1a2b3c4d5e6f"


class AgentConfig(BaseModel):
    """Which provider and model answer this turn, and how."""

    model_config = ConfigDict(extra="forbid")

    provider: StorableText | None = Field(
        None, max_length=64, description="Provider name; default: DEFAULT_PROVIDER."
    )
    model: StorableText | None = Field(
        None, max_length=256, description="Model name; default: the provider's default."
    )
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    system_prompt: StorableText | None = Field(
        None, description="Overrides the session's system prompt."
    )
    fallbacks: list[Annotated[StorableText, Field(max_length=256)]] = Field(
        default_factory=list,
        max_length=8,
        description="`provider` or `provider:model`, tried in order when the provider fails "
        "with 502, 503 or 504.",
        examples=[["anthropic:claude-sonnet-5-5", "openai"]],
    )

    @field_validator("fallbacks")
    @classmethod
    def _well_formed(cls, values: list[str]) -> list[str]:
        for value in values:
            provider, _, model = value.partition(":")
            if not provider.strip() or (":" in value and not model.strip()):
                raise ValueError(f"{value!r} is not 'provider' or 'provider:model'")
        return values


class OrchestrateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "message": "Explain AI simply",
                    "session_id": _EXAMPLE_SESSION,
                    "agent_config": {
                        "provider": "openai",
                        "model": "gpt-5.4-mini",
                        "temperature": 0.7,
                        "max_tokens": 1000,
                    },
                    "stream": False,
                }
            ]
        },
    )

    message: StorableText = Field(description="The user's new message.")
    session_id: StorableText | None = Field(
        None, max_length=256, description="Omitted: a new session is created."
    )
    agent_config: AgentConfig | None = None
    stream: bool = Field(False, description="Answer with Server-Sent Events.")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be empty")
        return value


class TurnMetadata(BaseModel):
    tokens_used: int = Field(examples=[456])
    input_tokens: int = Field(examples=[400])
    output_tokens: int = Field(examples=[56])
    cached_input_tokens: int = Field(examples=[0])
    reasoning_tokens: int = Field(0, examples=[0])
    cost_estimate: float | None = Field(
        examples=[0.0023], description="USD; null when the model's price is unknown."
    )
    usage_estimated: bool = Field(examples=[False])
    was_summarized: bool = Field(examples=[False])
    summary_tokens: int = Field(examples=[0])
    summary_cost: float | None = Field(examples=[0.0])
    fallback_from: str | None = Field(None, examples=[None])
    request_id: str = Field(examples=["3f2b9c1e6d7a4b8c9e0f1a2b3c4d5e6f"])


class OrchestrateResponse(BaseModel):
    response: str = Field(examples=["AI is software that learns patterns from examples..."])
    agent_used: str = Field(examples=["openai"])
    model_used: str = Field(examples=["gpt-5.4-mini"])
    session_id: str = Field(examples=[_EXAMPLE_SESSION])
    message_count: int = Field(examples=[2])
    timestamp: datetime
    execution_time: float = Field(examples=[2.34], description="Seconds spent on the turn.")
    metadata: TurnMetadata
