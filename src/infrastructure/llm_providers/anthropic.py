"""Anthropic's Messages API through the official ``anthropic`` SDK.

Quirks handled here:

- The system prompt is not a message, the conversation must alternate, tool calls and
  results are content blocks, and there is no JSON mode (a forced tool stands for
  ``response_format``): ``anthropic_messages`` builds the request.
- Options: ``stop`` is ``stop_sequences``, ``user`` is ``metadata.user_id``,
  ``parallel_tool_calls: false`` is ``tool_choice.disable_parallel_tool_use``.
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

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, cast

import anthropic
import httpx2
from anthropic.types import (
    InputJSONDelta,
    Message,
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)
from anthropic.types import TextDelta as AnthropicTextDelta

from src.domain import llm
from src.infrastructure.llm_providers import sdk_headers
from src.infrastructure.llm_providers.anthropic_messages import (
    alternating,
    json_tool_name,
    tooling,
)
from src.infrastructure.llm_providers.assembly import StreamAssembly
from src.infrastructure.llm_providers.base import (
    ProviderAdapter,
    ProviderConfig,
    UpstreamStatus,
)
from src.infrastructure.llm_providers.payloads import json_text

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

#: Anthropic's stop reasons in the domain's words; ``pause_turn`` (a server tool paused the
#: turn) has none.
ANTHROPIC_FINISH_REASONS: Final[Mapping[str, llm.FinishReason]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

#: Fields of ``message_delta`` usage that are cumulative and replace ``message_start``'s.
_CUMULATIVE_USAGE_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens_details",
)


def usage_from_anthropic(usage: Usage) -> llm.TokenUsage:
    """Anthropic usage in the domain's terms.

    Anthropic's ``input_tokens`` counts only the prompt tokens after the last cache
    breakpoint; ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are billed
    apart (0.1x and 1.25x input). The domain's ``input_tokens`` includes both. Thinking
    tokens are already inside ``output_tokens``; ``output_tokens_details`` only splits them out.
    """
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    details = usage.output_tokens_details
    return llm.TokenUsage(
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


class _AnthropicStream(StreamAssembly):
    """A stream's assembly, with the usage of ``message_start`` that later events update,
    and the content block (if any) that is the forced JSON tool, whose input is the reply."""

    start_usage: Usage | None = None
    stop_reason: str | None = None
    json_tool: str | None = None
    json_block: int | None = None


class AnthropicProvider(ProviderAdapter[Message, RawMessageStreamEvent]):
    """Claude models through ``anthropic.AsyncAnthropic``, with the SDK's retries off."""

    FINISH_REASONS = ANTHROPIC_FINISH_REASONS
    # ``httpx2``: transport errors the SDK lets through unwrapped.
    TIMEOUT_ERRORS = (anthropic.APITimeoutError, httpx2.TimeoutException)
    CONNECTION_ERRORS = (anthropic.APIConnectionError, httpx2.TransportError)
    UNREADABLE_ERRORS = (
        anthropic.AnthropicError,
        httpx2.HTTPError,
        *ProviderAdapter.UNREADABLE_ERRORS,
    )

    def __init__(self, spec: llm.ProviderSpec, config: ProviderConfig) -> None:
        super().__init__(spec, config)
        self._client = anthropic.AsyncAnthropic(
            api_key=config.api_key,
            base_url=config.base_url,
            timeout=anthropic.Timeout(config.timeout_s),  # not a number: as for the OpenAI protocol
            max_retries=0,
            # The SDK's official aiohttp backend, as for the OpenAI protocol (its docstring).
            http_client=anthropic.DefaultAioHttpClient(timeout=config.timeout_s),
            # The client's headers come after the call's, so here they leave out both.
            default_headers=sdk_headers.omitted(
                sdk_headers.PLATFORM + sdk_headers.PER_CALL, anthropic.omit
            ),
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _params(self, request: llm.ChatRequest) -> dict[str, Any]:
        """``max_tokens`` always (the API requires it); options in Anthropic's names."""
        options = request.options
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": self.output_ceiling(request),
            "system": request.system_text or anthropic.omit,
            "messages": alternating(request.conversation),
            **tooling(request, options.get("parallel_tool_calls")),
        }
        if (stop := options.get("stop")) is not None:
            params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if (user := options.get("user")) is not None:
            params["metadata"] = {"user_id": user}
        return params

    async def _send(self, params: dict[str, Any]) -> Message:
        # ``params`` is untyped, so the SDK's overloads cannot tell the return type.
        return cast(Message, await self._client.messages.create(**params))

    async def _open_stream(
        self, params: dict[str, Any]
    ) -> AbstractAsyncContextManager[AsyncIterator[RawMessageStreamEvent]]:
        stream = await self._client.messages.create(**params, stream=True)
        return cast(anthropic.AsyncStream[RawMessageStreamEvent], stream)

    def _assembly(self, request: llm.ChatRequest) -> StreamAssembly:
        reply = _AnthropicStream(self.name, request, self.FINISH_REASONS)
        reply.json_tool = json_tool_name(request)
        return reply

    def _result(self, request: llm.ChatRequest, response: Message) -> llm.ChatResult:
        json_tool = json_tool_name(request)
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[llm.ToolCall] = []
        for block in response.content:
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ThinkingBlock):
                thoughts.append(block.thinking)
            elif isinstance(block, ToolUseBlock) and block.name == json_tool:
                texts.append(json_text(block.input))
            elif isinstance(block, ToolUseBlock):
                calls.append(llm.ToolCall(block.id, block.name, json_text(block.input)))
        stop_reason = "end_turn" if json_tool else response.stop_reason
        return llm.ChatResult(
            text="".join(texts),
            model=response.model,
            usage=usage_from_anthropic(response.usage),
            finish_reason=self.finish_reason(stop_reason),
            reasoning_content="".join(thoughts) or None,
            tool_calls=tuple(calls),
        )

    def _read_chunk(
        self, reply: StreamAssembly, chunk: RawMessageStreamEvent
    ) -> Iterator[llm.StreamEvent]:
        assert isinstance(reply, _AnthropicStream)
        if isinstance(chunk, RawMessageStartEvent):
            reply.model, reply.start_usage = chunk.message.model, chunk.message.usage
        elif isinstance(chunk, RawContentBlockStartEvent):
            block = chunk.content_block
            if isinstance(block, ToolUseBlock) and block.name == reply.json_tool:
                reply.json_block = chunk.index
            elif isinstance(block, ToolUseBlock):
                reply.call_part(chunk.index, block.id, block.name, None)
        elif isinstance(chunk, RawContentBlockDeltaEvent):
            yield from self._read_delta(reply, chunk)
        elif isinstance(chunk, RawContentBlockStopEvent):
            yield from reply.calls_done(before=chunk.index + 1)
        elif isinstance(chunk, RawMessageDeltaEvent):
            reply.stop_reason = chunk.delta.stop_reason
            if reply.start_usage is not None:
                reply.start_usage = _merged_with(reply.start_usage, chunk.usage)
        elif isinstance(chunk, RawMessageStopEvent):
            # Only message_stop ends a message; the stop reason came before it.
            json_mode = reply.json_tool is not None
            reply.finish("end_turn" if json_mode else reply.stop_reason or "end_turn")
            if reply.start_usage is not None:
                reply.usage = usage_from_anthropic(reply.start_usage)

    def _read_delta(
        self, reply: _AnthropicStream, chunk: RawContentBlockDeltaEvent
    ) -> Iterator[llm.StreamEvent]:
        delta = chunk.delta
        if isinstance(delta, AnthropicTextDelta):
            if text := reply.text(delta.text):
                yield text
        elif isinstance(delta, InputJSONDelta) and chunk.index == reply.json_block:
            if text := reply.text(delta.partial_json):  # the forced JSON tool: the reply
                yield text
        elif isinstance(delta, InputJSONDelta):
            reply.call_part(chunk.index, None, None, delta.partial_json)

    def _upstream_status(self, error: Exception) -> UpstreamStatus | None:
        if not isinstance(error, anthropic.APIStatusError):
            return None
        status = error.status_code
        if status < 400:  # an ``error`` event inside a 200 stream
            status = _STATUS_OF_ERROR_TYPE.get(error.type or "", 500)
        return UpstreamStatus(
            status, error.api_message or error.type or "no message", error.response.headers
        )
