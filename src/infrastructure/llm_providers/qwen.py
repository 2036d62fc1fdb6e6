"""Qwen on Alibaba Cloud Model Studio over the ``dashscope`` SDK's native protocol.

The native protocol posts ``{"model", "input": {"messages"}, "parameters"}`` to
``{base_url}/services/aigc/text-generation/generation`` and answers
``{"output": {"choices"}, "usage", "request_id"}`` (not the OpenAI-compatible mode).

Why ``dashscope.AsyncClient`` (the SDK's 2.x client) rather than 1.x ``AioGeneration.call``:
both speak this same native protocol, but only the client takes its base URL, timeout and
retry count per instance. ``AioGeneration`` reads the base URL from the module global
``dashscope.base_http_api_url`` (or a per-call ``base_address``), keeps its connections in a
process-wide aiohttp session, and re-sends once on any dropped connection, read timeouts
included. So one ``AsyncClient`` lives as long as the adapter, built with
``protocol="native"``, ``max_retries=0`` (``resilience`` retries) and the configured timeout;
no global is touched. ``QWEN_BASE_URL`` is that client's ``base_url``, the gateway root
including ``/api/v1``; the default is the international (Singapore) endpoint, whose prices
``prices/qwen.json`` lists (the SDK's own default is Beijing).

Quirks handled here:

* Tools, ``tool_choice``, ``response_format`` (``json_object``) and tool calls take OpenAI's
  shapes, which the SDK writes into the native request; streamed call fragments are
  assembled by index as for OpenAI.
* DashScope expects at most one system message, at the head of ``messages``: the system
  prompt and the summary are joined into that one.
* Usage (:func:`usage_from_dashscope`): ``input_tokens`` already *includes* the implicit
  cache hits reported as ``prompt_tokens_details.cached_tokens``; reasoning tokens
  (``output_tokens_details.reasoning_tokens``) are part of ``output_tokens``. Explicit cache
  writes (``cache_control`` markers) are never requested, so none are read.
* Streaming sends ``incremental_output: true`` (the SDK's default for a stream): each event
  carries only the new text, and every event carries the usage so far, so the last one wins.
  Unfinished events say ``"finish_reason": "null"``, the string.
* Prices (``prices/qwen.json``) are the first, shortest-prompt tier of each model, with the
  non-thinking output price; Model Studio bills longer prompts and thinking output higher.
  Implicit cache hits cost a fifth of the input price.
* Errors: the client raises ``DashScopeError`` subclasses. A failure may come as an HTTP
  status, or as an HTTP 200 (or a stream event) whose body carries a ``code`` such as
  ``Throttling``; the SDK gives those the class of that code but ``status_code`` 200, so the
  class's own status (``RateLimitError.status_code`` is 429) is used instead. Read timeouts
  in the middle of a stream escape the SDK as raw ``httpx`` exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import dashscope
import httpx
from dashscope.v2 import errors as dashscope_errors
from dashscope.v2.types.common import Usage
from dashscope.v2.types.completions import ChatCompletion, ChatCompletionChunk

from src.domain import llm
from src.domain.tokens import estimated_usage
from src.infrastructure.llm_providers import openai_shapes as shapes
from src.infrastructure.llm_providers.assembly import StreamAssembly
from src.infrastructure.llm_providers.base import (
    ProviderAdapter,
    ProviderConfig,
    UpstreamStatus,
    extra_count,
    released,
)

DEFAULT_BASE_URL = "https://dashscope-intl.aliyuncs.com/api/v1"


def usage_from_dashscope(usage: Usage) -> llm.TokenUsage:
    """DashScope's usage in the domain's convention (input includes cached reads)."""
    extras = usage.model_extra or {}
    cached = extra_count(extras, "prompt_tokens_details", "cached_tokens")
    return llm.TokenUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_input_tokens=min(cached, usage.input_tokens),
        reasoning_tokens=extra_count(extras, "output_tokens_details", "reasoning_tokens"),
    )


class QwenProvider(ProviderAdapter[ChatCompletion, ChatCompletionChunk]):
    """Native text generation over one long-lived ``dashscope.AsyncClient``, retries off."""

    # Finish reasons: DashScope uses OpenAI's names, the domain's own.
    # httpx: read timeouts in the middle of a stream escape the SDK unwrapped.
    TIMEOUT_ERRORS = (dashscope_errors.APITimeoutError, httpx.TimeoutException)
    CONNECTION_ERRORS = (dashscope_errors.APIConnectionError, httpx.TransportError)
    # A failure with neither a status nor a known code; a 200 whose body does not parse.
    UNREADABLE_ERRORS = (dashscope_errors.DashScopeError, *ProviderAdapter.UNREADABLE_ERRORS)

    def __init__(self, spec: llm.ProviderSpec, config: ProviderConfig) -> None:
        super().__init__(spec, config)
        self._client = dashscope.AsyncClient(
            api_key=config.api_key,
            base_url=config.base_url or DEFAULT_BASE_URL,
            protocol="native",
            timeout=config.timeout_s,
            max_retries=0,
        )

    def _params(self, request: llm.ChatRequest) -> dict[str, Any]:
        """One leading system message (prompt and summary joined), then the conversation."""
        system = request.system_text
        head: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages = head + [shapes.message(m, m.content) for m in request.conversation]
        tooling = shapes.tooling(request.tools, request.tool_choice, request.response_format)
        return {
            "model": request.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": self.output_ceiling(request),
            **tooling,
            **self.options(request),
        }

    async def _send(self, params: dict[str, Any]) -> ChatCompletion:
        # ``params`` is untyped, so the SDK's overloads cannot tell the return type.
        return cast(ChatCompletion, await self._client.chat.completions.create(**params))

    async def _open_stream(
        self, params: dict[str, Any]
    ) -> AbstractAsyncContextManager[AsyncIterator[ChatCompletionChunk]]:
        chunks = await self._client.chat.completions.create(**params, stream=True)
        return released(aiter(chunks))

    def _result(self, request: llm.ChatRequest, response: ChatCompletion) -> llm.ChatResult:
        if not response.choices:
            raise self.unreadable("a response without choices")
        choice = response.choices[0]
        reply = choice.message.content or ""
        return llm.ChatResult(
            text=reply,
            # The native protocol does not echo the model.
            model=response.model or request.model,
            usage=usage_from_dashscope(response.usage)
            if response.usage
            else estimated_usage(request, reply),
            finish_reason=self.finish_reason(choice.finish_reason),
            reasoning_content=choice.message.reasoning_content or None,
            tool_calls=tuple(
                llm.ToolCall(call.id or "", call.function.name or "", call.function.arguments)
                for call in choice.message.tool_calls or ()
            ),
        )

    def _read_chunk(
        self, reply: StreamAssembly, chunk: ChatCompletionChunk
    ) -> Iterator[llm.StreamEvent]:
        if chunk.usage is not None:
            reply.usage = usage_from_dashscope(chunk.usage)
        for choice in chunk.choices:
            # Unfinished events say ``"finish_reason": "null"``, the string.
            reply.finish(None if choice.finish_reason == "null" else choice.finish_reason)
            reply.thought(choice.delta.reasoning_content)
            if delta := reply.text(choice.delta.content):
                yield delta
            yield from shapes.read_fragments(reply, choice.delta.tool_calls or ())

    def _upstream_status(self, error: Exception) -> UpstreamStatus | None:
        """The status of a failure, or of its ``code`` when it came inside a 200, with the
        ``code: message`` DashScope sent."""
        if not isinstance(error, dashscope_errors.DashScopeError) or isinstance(
            error, dashscope_errors.APIConnectionError
        ):
            return None
        status = error.status_code
        if status is None or status < 400:
            if not isinstance(error, dashscope_errors.APIStatusError):
                return None
            status = type(error).status_code
        if status is None:
            return None
        message = f"{error.code}: {error.message}" if error.code else error.message
        return UpstreamStatus(status, message, error.headers)

    async def aclose(self) -> None:
        await self._client.aclose()
