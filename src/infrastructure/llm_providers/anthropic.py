"""Anthropic's Messages API through the official ``anthropic`` SDK.

Quirks handled here:

- The system prompt is not a message: every system message (the prompt, then the summary)
  is joined into the top-level ``system`` string, and the conversation must alternate
  ``user``/``assistant``, so consecutive messages of one role are merged.
- ``max_tokens`` is required by the API, so it is always sent.
- Sampling parameters are gone: SDK 2.x sends API version 2026-10-21, which rejects
  ``temperature`` (even 1.0) with a 400 and has no keyword for it, so the request's
  temperature is deliberately not sent.
- ``usage.input_tokens`` excludes cache reads and cache writes (see ``usage_from_anthropic``).
- A stream reports input usage in ``message_start`` and the final, cumulative output tokens
  in ``message_delta``; an overload during a stream arrives as an ``error`` event on an HTTP
  200 response, whose status is recovered from the error type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Final

import anthropic
import httpx2
from anthropic.types import (
    AssistantMessageParam,
    MessageDeltaUsage,
    MessageParam,
    RawContentBlockDeltaEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlock,
    ThinkingBlock,
    Usage,
    UserMessageParam,
)
from anthropic.types import TextDelta as AnthropicTextDelta

from src.domain.errors import ProviderError
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    ProviderSpec,
    StreamEvent,
    TokenUsage,
)
from src.infrastructure.llm_providers.base import (
    ProviderAdapter,
    ProviderConfig,
    StreamAssembly,
)

#: Status of each documented error type, for errors that arrive inside a 200 stream.
_STATUS_OF_ERROR_TYPE: Final = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

#: Fields of ``message_delta`` usage that are cumulative and replace ``message_start``'s.
_CUMULATIVE_USAGE_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens_details",
)


def usage_from_anthropic(usage: Usage) -> TokenUsage:
    """Anthropic usage in the domain's terms.

    Anthropic's ``input_tokens`` counts only the prompt tokens after the last cache
    breakpoint; ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are billed
    apart (0.1x and 1.25x input). The domain's ``input_tokens`` includes both. Thinking
    tokens are already inside ``output_tokens``; ``output_tokens_details`` only splits them out.
    """
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    details = usage.output_tokens_details
    return TokenUsage(
        input_tokens=usage.input_tokens + cache_read + cache_write,
        output_tokens=usage.output_tokens,
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=details.thinking_tokens if details else 0,
    )


def _merged_with(start: Usage, delta: MessageDeltaUsage) -> Usage:
    """``message_start`` usage updated with the cumulative counts of ``message_delta``."""
    update = {
        name: getattr(delta, name)
        for name in _CUMULATIVE_USAGE_FIELDS
        if getattr(delta, name) is not None
    }
    return start.model_copy(update=update)


def _alternating(messages: Iterable[ChatMessage]) -> list[MessageParam]:
    """The conversation as Anthropic messages, consecutive same-role messages merged."""
    turns: list[tuple[bool, list[str]]] = []  # (is the assistant's, contents)
    for message in messages:
        is_assistant = message.role == "assistant"
        if turns and turns[-1][0] == is_assistant:
            turns[-1][1].append(message.content)
        else:
            turns.append((is_assistant, [message.content]))
    return [_message_param(is_assistant, "\n\n".join(parts)) for is_assistant, parts in turns]


def _message_param(is_assistant: bool, content: str) -> MessageParam:
    if is_assistant:
        return AssistantMessageParam(role="assistant", content=content)
    return UserMessageParam(role="user", content=content)


class AnthropicProvider(ProviderAdapter):
    """Claude models through ``anthropic.AsyncAnthropic``, with the SDK's retries off."""

    def __init__(self, spec: ProviderSpec, config: ProviderConfig) -> None:
        super().__init__(spec, config)
        self._client = anthropic.AsyncAnthropic(
            api_key=config.api_key,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=0,
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            message = await self._client.messages.create(
                model=request.model,
                max_tokens=self.output_ceiling(request),
                system=request.system_text or anthropic.omit,
                messages=_alternating(request.conversation),
            )
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError) as exc:
            raise self._domain_error(exc) from exc
        texts = [block.text for block in message.content if isinstance(block, TextBlock)]
        thoughts = [b.thinking for b in message.content if isinstance(b, ThinkingBlock)]
        return ChatResult(
            text="".join(texts),
            model=message.model,
            usage=usage_from_anthropic(message.usage),
            finish_reason=message.stop_reason,
            reasoning_content="".join(thoughts) or None,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        reply = StreamAssembly(self.name, request)
        usage: Usage | None = None
        stop_reason: str | None = None
        try:
            events = await self._client.messages.create(
                model=request.model,
                max_tokens=self.output_ceiling(request),
                system=request.system_text or anthropic.omit,
                messages=_alternating(request.conversation),
                stream=True,
            )
            async with events:
                async for event in events:
                    if isinstance(event, RawMessageStartEvent):
                        reply.model, usage = event.message.model, event.message.usage
                    elif isinstance(event, RawContentBlockDeltaEvent) and isinstance(
                        event.delta, AnthropicTextDelta
                    ):
                        if delta := reply.text(event.delta.text):
                            yield delta
                    elif isinstance(event, RawMessageDeltaEvent):
                        stop_reason = event.delta.stop_reason
                        if usage is not None:
                            usage = _merged_with(usage, event.usage)
                    elif isinstance(event, RawMessageStopEvent):
                        # Only message_stop ends a message; the stop reason came before it.
                        reply.finish(stop_reason or "end_turn")
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError) as exc:
            raise self._domain_error(exc) from exc
        reply.usage = usage_from_anthropic(usage) if usage else None
        yield reply.end()

    async def aclose(self) -> None:
        await self._client.close()

    def _domain_error(self, exc: Exception) -> ProviderError:
        """The one place SDK and transport exceptions become domain errors."""
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if status < 400:  # an ``error`` event inside a 200 stream
                status = _STATUS_OF_ERROR_TYPE.get(exc.type or "", 500)
            return self.error_for_status(
                status, exc.api_message or exc.type or "no message", exc.response.headers
            )
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            return self.timed_out()
        if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
            return self.unreachable()
        return self.unreadable()
