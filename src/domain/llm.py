"""What the domain says to a language model and what it hears back.

Adapters translate these to and from their SDK's types; nothing from an SDK passes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ChatRole = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "interrupted"]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call (OpenAI's function-tool form, provider-neutral)."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None  # a JSON Schema object
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for. ``id`` is ours to keep when the provider has none (Gemini);
    ``arguments`` is JSON text, exactly as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ForcedTool:
    """``tool_choice`` naming the one function the model must call."""

    name: str


ToolChoice = Literal["auto", "none", "required"] | ForcedTool


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: any JSON object, or JSON that follows ``schema``."""

    type: Literal["json_object", "json_schema"]
    name: str | None = None
    schema: Mapping[str, Any] | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL: ``https://...`` or a base64 ``data:image/...;base64,...`` URL."""

    url: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the context. System messages always come first.

    An assistant message may carry ``tool_calls``; a ``tool`` message answers the call
    ``tool_call_id`` (``name`` is that call's function, which Gemini matches on). ``parts``,
    when not empty, is the content as text and image parts; ``content`` is then its text.
    """

    role: ChatRole
    content: str
    reasoning_content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    parts: tuple[ContentPart, ...] = ()

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call to a model.

    ``options`` holds the further sampling parameters under their OpenAI names (``stop``,
    ``top_p``, ``seed``, ``user``, ``presence_penalty``, ``frequency_penalty``, ...): each adapter
    maps the ones its ``ProviderSpec.options`` declares; the turn refuses the rest before any call.
    """

    model: str
    messages: tuple[ChatMessage, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def system_text(self) -> str | None:
        """All leading system messages joined, for APIs that take one system field."""
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def conversation(self) -> tuple[ChatMessage, ...]:
        """The messages that are not system messages, in order."""
        return tuple(m for m in self.messages if m.role != "system")


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply, forwarded to the client as soon as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one call, normalized across providers.

    ``input_tokens`` always *includes* cached reads and cache writes, whatever the provider's
    own convention; ``cached_input_tokens`` and ``cache_write_tokens`` are the parts of it billed
    at other rates. ``reasoning_tokens`` are part of ``output_tokens``.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    model: str
    usage: TokenUsage
    finish_reason: FinishReason | None = None
    reasoning_content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of a stream: the whole reply and its usage."""

    result: ChatResult


@dataclass(frozen=True, slots=True)
class ToolCallReady:
    """A tool call whose arguments have arrived whole (streams send them in fragments)."""

    call: ToolCall


StreamEvent = TextDelta | ToolCallReady | StreamEnd


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a provider is, independent of whether it is configured."""

    name: str
    default_model: str
    models: tuple[str, ...]
    key_variable: str | None
    capabilities: tuple[str, ...] = ("chat", "streaming")
    key_aliases: tuple[str, ...] = field(default=())
    options: frozenset[str] = frozenset()


@runtime_checkable
class LLMProvider(Protocol):
    """The port every provider adapter implements.

    ``complete`` and ``stream`` raise only :mod:`src.domain.errors` provider errors.
    ``stream`` yields ``TextDelta`` and ``ToolCallReady`` events and ends with exactly one
    ``StreamEnd`` whose result holds the whole text and every tool call.
    """

    @property
    def spec(self) -> ProviderSpec: ...

    async def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


async def close_stream(events: AsyncIterator[object]) -> None:
    """Closes a stream at once, which cancels its upstream call if still running.

    Needed where a consumer stops early: an abandoned async generator is otherwise closed
    only when the garbage collector gets to it.
    """
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
