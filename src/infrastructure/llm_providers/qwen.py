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

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import dashscope
import httpx
import pydantic
from dashscope.v2 import errors as dashscope_errors
from dashscope.v2.types.common import Usage
from dashscope.v2.types.completions import ChatCompletion
from dashscope.v2.types.messages import MessageInput

from src.domain.errors import ProviderError
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    ProviderSpec,
    StreamEvent,
    TokenUsage,
)
from src.domain.tokens import estimated_usage
from src.infrastructure.llm_providers.base import (
    ProviderAdapter,
    ProviderConfig,
    StreamAssembly,
    extra_count,
)

DEFAULT_BASE_URL = "https://dashscope-intl.aliyuncs.com/api/v1"


def usage_from_dashscope(usage: Usage) -> TokenUsage:
    """DashScope's usage in the domain's convention (input includes cached reads)."""
    extras = usage.model_extra or {}
    cached = extra_count(extras, "prompt_tokens_details", "cached_tokens")
    return TokenUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_input_tokens=min(cached, usage.input_tokens),
        reasoning_tokens=extra_count(extras, "output_tokens_details", "reasoning_tokens"),
    )


def _finish_reason(value: str | None) -> str | None:
    return None if value in (None, "null") else value


class QwenProvider(ProviderAdapter):
    """Native text generation over one long-lived ``dashscope.AsyncClient``, retries off."""

    def __init__(self, spec: ProviderSpec, config: ProviderConfig) -> None:
        super().__init__(spec, config)
        self._client = dashscope.AsyncClient(
            api_key=config.api_key,
            base_url=config.base_url or DEFAULT_BASE_URL,
            protocol="native",
            timeout=config.timeout_s,
            max_retries=0,
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        with self._translated_errors():
            completion = await self._client.chat.completions.create(
                model=request.model,
                messages=self._messages(request),
                temperature=request.temperature,
                max_tokens=self.output_ceiling(request),
            )
        return self._result(request, completion)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        reply = StreamAssembly(self.name, request)
        with self._translated_errors():
            chunks = await self._client.chat.completions.create(
                model=request.model,
                messages=self._messages(request),
                temperature=request.temperature,
                max_tokens=self.output_ceiling(request),
                stream=True,
            )
            try:
                async for chunk in chunks:
                    if chunk.usage is not None:
                        reply.usage = usage_from_dashscope(chunk.usage)
                    for choice in chunk.choices:
                        reply.finish(_finish_reason(choice.finish_reason))
                        reply.thought(choice.delta.reasoning_content)
                        if delta := reply.text(choice.delta.content):
                            yield delta
            finally:
                await chunks.aclose()
        yield reply.end()

    def _messages(self, request: ChatRequest) -> list[MessageInput]:
        """One leading system message (prompt and summary joined), then the conversation."""
        system = request.system_text
        head: list[MessageInput] = [{"role": "system", "content": system}] if system else []
        return head + [{"role": m.role, "content": m.content} for m in request.conversation]

    def _result(self, request: ChatRequest, completion: ChatCompletion) -> ChatResult:
        if not completion.choices:
            raise self.unreadable("a response without choices")
        choice = completion.choices[0]
        reply = choice.message.content or ""
        return ChatResult(
            text=reply,
            # The native protocol does not echo the model.
            model=completion.model or request.model,
            usage=usage_from_dashscope(completion.usage)
            if completion.usage
            else estimated_usage(request, reply),
            finish_reason=_finish_reason(choice.finish_reason),
            reasoning_content=choice.message.reasoning_content or None,
        )

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        """The one place SDK exceptions (and error responses) become domain errors."""
        try:
            yield
        except ProviderError:
            raise
        except (dashscope_errors.APITimeoutError, httpx.TimeoutException) as error:
            # httpx: read timeouts in the middle of a stream escape the SDK unwrapped.
            raise self.timed_out() from error
        except (dashscope_errors.APIConnectionError, httpx.TransportError) as error:
            raise self.unreachable() from error
        except dashscope_errors.DashScopeError as error:
            status = _status_of(error)
            if status is None:
                raise self.unreadable() from error
            raise self.error_for_status(
                status, self._upstream_message(error), dict(error.headers)
            ) from error
        except (json.JSONDecodeError, pydantic.ValidationError) as error:
            # A 200 whose body does not parse.
            raise self.unreadable() from error

    def _upstream_message(self, error: dashscope_errors.DashScopeError) -> str:
        """The ``code: message`` DashScope sent, for the domain error."""
        return f"{error.code}: {error.message}" if error.code else error.message


def _status_of(error: dashscope_errors.DashScopeError) -> int | None:
    """The HTTP status of a failure, or of its ``code`` when it came inside a 200."""
    if error.status_code is not None and error.status_code >= 400:
        return error.status_code
    if isinstance(error, dashscope_errors.APIStatusError):
        return type(error).status_code
    return None
