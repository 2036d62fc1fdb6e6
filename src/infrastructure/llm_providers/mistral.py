"""Mistral AI over its official ``mistralai`` SDK (3.x).

The SDK posts to ``{server_url}/v1/chat/completions``; its ``server_url`` option, and so
``MISTRAL_BASE_URL``, is the host without ``/v1`` (default ``https://api.mistral.ai``).
One ``Mistral`` client lives as long as the adapter, with ``retry_config=None`` (no SDK
retries: ``resilience`` retries) and ``timeout_ms`` from the configured timeout, which bounds
the wait for each read, so a stream fails only when it goes quiet that long.

Quirks handled here:

* Usage (:func:`usage_from_mistral`): ``prompt_tokens`` already *includes* cached prompt
  tokens. The cached count comes as ``prompt_tokens_details.cached_tokens``, a field the
  SDK's ``UsageInfo`` does not declare (a pydantic extra); the API reference also lists
  ``num_cached_tokens`` and a singular ``prompt_token_details``, read as fallbacks.
  Reasoning tokens (``completion_tokens_details.reasoning_tokens``) are part of
  ``completion_tokens``. A stream reports usage in its last chunk only.
* Magistral (reasoning) models answer with a list of chunks instead of a string:
  ``thinking`` chunks carry the reasoning, ``text`` chunks the answer.
* Errors: HTTP statuses arrive as ``MistralError`` subclasses carrying ``status_code``,
  ``body`` and ``headers``; a body that does not parse is a ``ResponseValidationError``,
  also a ``MistralError`` but with the 200 status; timeouts and connection failures are raw
  ``httpx2`` exceptions (the SDK's fork of httpx) that it does not wrap.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
from mistralai.client import Mistral
from mistralai.client.errors import MistralError, NoResponseError
from mistralai.client.models import (
    AssistantMessage,
    ChatCompletionResponse,
    SystemMessage,
    TextChunk,
    ThinkChunk,
    UsageInfo,
    UserMessage,
)

from src.domain.errors import ProviderError
from src.domain.llm import (
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
    extra_count,
    positive_count,
)

DEFAULT_SERVER_URL = "https://api.mistral.ai"
#: The SDK's message model per role. ``complete_async`` turns plain dict messages into these
#: by building a throw-away pydantic model class on every call (``utils.unmarshal``), which
#: is most of the SDK's cost of a call; messages that already are models skip that step.
_MESSAGE = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}


def usage_from_mistral(usage: UsageInfo) -> TokenUsage:
    """Mistral's usage in the domain's convention (input includes cached reads)."""
    extras = usage.model_extra or {}
    input_tokens = usage.prompt_tokens or 0
    cached = (
        extra_count(extras, "prompt_tokens_details", "cached_tokens")
        or positive_count(extras.get("num_cached_tokens"))
        or extra_count(extras, "prompt_token_details", "cached_tokens")
    )
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=usage.completion_tokens or 0,
        cached_input_tokens=min(cached, input_tokens),
        reasoning_tokens=extra_count(extras, "completion_tokens_details", "reasoning_tokens"),
    )


def _split_content(content: object) -> tuple[str, str]:
    """``(answer, reasoning)`` of a message or delta: a string, or Magistral's chunk list."""
    if isinstance(content, str):
        return content, ""
    answer: list[str] = []
    reasoning: list[str] = []
    for chunk in content if isinstance(content, list) else ():
        if isinstance(chunk, TextChunk):
            answer.append(chunk.text)
        elif isinstance(chunk, ThinkChunk):
            reasoning.extend(part.text for part in chunk.thinking if isinstance(part, TextChunk))
    return "".join(answer), "".join(reasoning)


class MistralProvider(ProviderAdapter):
    """Chat completions over one long-lived ``Mistral`` client, SDK retries off."""

    def __init__(self, spec: ProviderSpec, config: ProviderConfig) -> None:
        super().__init__(spec, config)
        # Owned here so ``aclose`` can close it; the SDK only closes clients it created
        # when it is garbage collected.
        self._http = httpx2.AsyncClient(follow_redirects=True)
        self._client = Mistral(
            api_key=config.api_key,
            server_url=config.base_url or DEFAULT_SERVER_URL,
            async_client=self._http,
            retry_config=None,
            timeout_ms=round(config.timeout_s * 1000),
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        with self._translated_errors():
            response = await self._client.chat.complete_async(**self._params(request))
        return self._result(request, response)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        reply = StreamAssembly(self.name, request)
        with self._translated_errors():
            events = await self._client.chat.stream_async(**self._params(request))
            async with events:
                async for event in events:
                    chunk = event.data
                    reply.model = chunk.model or reply.model
                    if chunk.usage is not None:
                        reply.usage = usage_from_mistral(chunk.usage)
                    for choice in chunk.choices:
                        reply.finish(choice.finish_reason)
                        piece, thought = _split_content(choice.delta.content)
                        reply.thought(thought)
                        if delta := reply.text(piece):
                            yield delta
        yield reply.end()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        """The call's arguments: every message in order, system messages first as given."""
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [_MESSAGE[m.role](content=m.content) for m in request.messages],
            "max_tokens": self.output_ceiling(request),
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    def _result(self, request: ChatRequest, response: ChatCompletionResponse) -> ChatResult:
        if not response.choices:
            raise self.unreadable("a response without choices")
        choice = response.choices[0]
        reply, reasoning = _split_content(choice.message.content if choice.message else None)
        return ChatResult(
            text=reply,
            model=response.model or request.model,
            usage=usage_from_mistral(response.usage),
            finish_reason=choice.finish_reason,
            reasoning_content=reasoning or None,
        )

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        """The one place SDK exceptions become domain errors."""
        try:
            yield
        except ProviderError:
            raise
        except MistralError as error:
            if error.status_code < 400:  # a 200 whose body does not parse
                raise self.unreadable() from error
            raise self.error_for_status(
                error.status_code, self._upstream_message(error), dict(error.headers)
            ) from error
        except httpx2.TimeoutException as error:
            raise self.timed_out() from error
        except (httpx2.TransportError, NoResponseError) as error:
            raise self.unreachable() from error

    def _upstream_message(self, error: MistralError) -> str:
        """The ``message`` of Mistral's error body, for the domain error."""
        try:
            body = json.loads(error.body)
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        return message if isinstance(message, str) and message else f"HTTP {error.status_code}"
