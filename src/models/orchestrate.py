"""Contracts of ``POST /api/orchestrate``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from src.models.text import StorableText
from src.models.tools import (
    ContentPartIn,
    FunctionTool,
    ResponseFormatIn,
    ToolCallOut,
    ToolChoiceIn,
    ToolResultIn,
)

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
    tools: list[FunctionTool] | None = Field(
        None, max_length=128, description="Functions the model may call (OpenAI's form)."
    )
    tool_choice: ToolChoiceIn | None = Field(
        None, description='`"auto"`, `"none"`, `"required"` or one function by name.'
    )
    response_format: ResponseFormatIn | None = Field(
        None, description="Structured output: `json_object`, or `json_schema` with a schema."
    )

    agent: str | None = Field(
        None,
        description="A stored agent preset (`/api/agents`) to start from; the fields given "
        "beside it override the preset's.",
        examples=["support-bot"],
    )

    @field_validator("fallbacks")
    @classmethod
    def _well_formed(cls, values: list[str]) -> list[str]:
        return well_formed_targets(values)


def well_formed_targets(values: list[str]) -> list[str]:
    """A validator for fallback lists: each entry names a provider, and a model after ``:``."""
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
                },
                {
                    "message": "My order has not arrived",
                    "agent_config": {"agent": "support-bot", "temperature": 0.2},
                },
            ]
        },
    )

    content_parts: list[ContentPartIn] | None = Field(
        None,
        max_length=64,
        description="The new message as text and `image_url` parts, beside or instead of "
        "`message`.",
    )
    tool_results: list[ToolResultIn] | None = Field(
        None, max_length=128, description="Results of the tool calls of the last reply."
    )
    # After the two fields above, so that its validator sees them.
    message: StorableText | None = Field(
        None,
        validate_default=True,
        description="The user's new message; optional when `tool_results` or `content_parts` "
        "are given.",
    )
    session_id: StorableText | None = Field(
        None, max_length=256, description="Omitted: a new session is created."
    )
    agent_config: AgentConfig | None = None
    stream: bool = Field(False, description="Answer with Server-Sent Events.")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if not info.data.get("content_parts") and not info.data.get("tool_results"):
                raise ValueError(
                    "message is required unless content_parts or tool_results are given"
                )
        elif not value.strip():
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
    finish_reason: str | None = Field(
        examples=["stop"], description="`stop`, `length`, `tool_calls` or `content_filter`."
    )
    tool_calls: list[ToolCallOut] = Field(
        default_factory=list, description="The tools the model asked to call, if any."
    )
    metadata: TurnMetadata
