"""What the domain says to a language model and what it hears back.

Adapters translate these to and from their SDK's types; nothing from an SDK passes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

ChatRole = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the context. System messages always come first."""

    role: ChatRole
    content: str
    reasoning_content: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    temperature: float | None = None
    max_tokens: int | None = None

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
    finish_reason: str | None = None
    reasoning_content: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply, forwarded to the client as soon as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of a stream: the whole reply and its usage."""

    result: ChatResult


StreamEvent = TextDelta | StreamEnd


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a provider is, independent of whether it is configured."""

    name: str
    default_model: str
    models: tuple[str, ...]
    key_variable: str | None
    capabilities: tuple[str, ...] = ("chat", "streaming")
    key_aliases: tuple[str, ...] = field(default=())


@runtime_checkable
class LLMProvider(Protocol):
    """The port every provider adapter implements.

    ``complete`` and ``stream`` raise only :mod:`src.domain.errors` provider errors.
    ``stream`` yields ``TextDelta`` events and ends with exactly one ``StreamEnd``.
    """

    @property
    def spec(self) -> ProviderSpec: ...

    async def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


async def close_stream(events: AsyncIterator[StreamEvent]) -> None:
    """Closes a provider stream at once, which cancels its upstream call if still running.

    Needed where a consumer stops early: an abandoned async generator is otherwise closed
    only when the garbage collector gets to it.
    """
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
