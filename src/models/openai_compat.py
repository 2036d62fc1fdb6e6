"""OpenAI's chat-completions wire format, as far as the gateway speaks it (``/v1``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.domain.llm import ChatMessage, ChatRole, ContentPart, ImagePart, ToolCall
from src.models.text import StorableText
from src.models.tools import (
    ContentPartIn,
    FunctionTool,
    ResponseFormatIn,
    ToolChoiceIn,
    parts_text,
    parts_to_domain,
)


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    arguments: str


class ToolCallIn(BaseModel):
    """An assistant message's tool call, as OpenAI writes it (and clients send it back)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall

    def to_domain(self) -> ToolCall:
        return ToolCall(self.id, self.function.name, self.function.arguments)


class ChatMessageIn(BaseModel):
    # Ignored extras are fields OpenAI puts on the assistant messages clients echo back
    # (``refusal``, ``annotations``, ``audio``): they carry nothing to send upstream.
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StorableText | list[ContentPartIn] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    @property
    def parts(self) -> tuple[ContentPart, ...]:
        return parts_to_domain(self.content) if isinstance(self.content, list) else ()

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return parts_text(self.parts)
        return self.content or ""

    def to_domain(self) -> ChatMessage:
        """OpenAI's ``developer`` role is a system message under another name."""
        role: ChatRole = "system" if self.role == "developer" else self.role
        parts = self.parts
        return ChatMessage(
            role,
            self.text,
            tool_calls=tuple(c.to_domain() for c in self.tool_calls or ()),
            tool_call_id=self.tool_call_id,
            name=self.name if role == "tool" else None,
            parts=parts if any(isinstance(p, ImagePart) for p in parts) else (),
        )


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


# Parameters whose value here is OpenAI's own default, so sending them asks for nothing.
_NEUTRAL: dict[str, Any] = {
    "n": 1,
    "logprobs": False,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "top_p": 1,
    "store": False,
    "parallel_tool_calls": True,
}


class ChatCompletionRequest(BaseModel):
    """Every other OpenAI parameter (``stop``, ``top_p``, ``seed``, ``user``, ``logprobs``, ...)
    is passed to the provider under its name there, or refused with 400 naming it when the
    provider cannot honour it: nothing is silently dropped."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "openai/gpt-5.4-mini",
                    "messages": [{"role": "user", "content": "Hello"}],
                    "stream": False,
                }
            ]
        },
    )

    model: StorableText = Field(
        max_length=256,
        description="`provider/model`, a provider name, or a model of the default provider.",
    )
    messages: list[ChatMessageIn] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[FunctionTool] | None = Field(None, max_length=128)
    tool_choice: ToolChoiceIn | None = None
    response_format: ResponseFormatIn | None = None

    def options(self) -> tuple[tuple[str, Any], ...]:
        """The further parameters asked for, by their OpenAI names; defaults left out."""
        extra = self.model_extra or {}
        return tuple(
            (name, value)
            for name, value in sorted(extra.items())
            if value is not None and _NEUTRAL.get(name, object()) != value
        )


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int] = Field(default_factory=dict)
    completion_tokens_details: dict[str, int] = Field(default_factory=dict)


class ToolCallFunction(BaseModel):
    name: str
    arguments: str


class ToolCallOutOpenAI(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction

    @classmethod
    def of(cls, call: ToolCall) -> ToolCallOutOpenAI:
        return cls(id=call.id, function=ToolCallFunction(name=call.name, arguments=call.arguments))


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None
    tool_calls: list[ToolCallOutOpenAI] | None = None
    reasoning_content: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "function_call"] = (
        "stop"
    )
    logprobs: Any = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
