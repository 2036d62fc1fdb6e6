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
* Tools, ``tool_choice`` and ``response_format`` take OpenAI's shapes; ``seed`` is
  ``random_seed``. Mistral's call ids are nine letters or digits: another provider's ids are
  mapped (``mistral_id``) the same way in a call and in its result.
* Magistral (reasoning) models answer with a list of chunks instead of a string:
  ``thinking`` chunks carry the reasoning, ``text`` chunks the answer.
* Errors: HTTP statuses arrive as ``MistralError`` subclasses carrying ``status_code``,
  ``body`` and ``headers``; a body that does not parse is a ``ResponseValidationError``,
  also a ``MistralError`` but with the 200 status; timeouts and connection failures are raw
  ``httpx2`` exceptions (the SDK's fork of httpx) that it does not wrap.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

import httpx2
from mistralai.client import Mistral
from mistralai.client.errors import MistralError, NoResponseError
from mistralai.client.models import (
    AssistantMessage,
    ChatCompletionResponse,
    CompletionEvent,
    FunctionCall,
    ImageURLChunk,
    SystemMessage,
    TextChunk,
    ThinkChunk,
    ToolCall,
    ToolMessage,
    UsageInfo,
    UserMessage,
)

from src.domain import llm
from src.infrastructure.llm_providers import openai_shapes as shapes
from src.infrastructure.llm_providers.assembly import StreamAssembly
from src.infrastructure.llm_providers.base import (
    ProviderAdapter,
    ProviderConfig,
    UpstreamStatus,
    extra_count,
    positive_count,
)
from src.infrastructure.llm_providers.payloads import json_text

DEFAULT_SERVER_URL = "https://api.mistral.ai"
#: The SDK's message model per role. ``complete_async`` turns plain dict messages into these
#: by building a throw-away pydantic model class on every call (``utils.unmarshal``), which
#: is most of the SDK's cost of a call; messages that already are models skip that step.
_MESSAGE = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
_MISTRAL_ID: Final = re.compile(r"[A-Za-z0-9]{9}")
_ID_ALPHABET: Final = string.ascii_letters + string.digits

#: ``model_length`` is Mistral's context-window limit; its ``error`` reason has no domain name.
MISTRAL_FINISH_REASONS: Final[Mapping[str, llm.FinishReason]] = {"model_length": "length"}


def usage_from_mistral(usage: UsageInfo) -> llm.TokenUsage:
    """Mistral's usage in the domain's convention (input includes cached reads)."""
    extras = usage.model_extra or {}
    input_tokens = usage.prompt_tokens or 0
    cached = (
        extra_count(extras, "prompt_tokens_details", "cached_tokens")
        or positive_count(extras.get("num_cached_tokens"))
        or extra_count(extras, "prompt_token_details", "cached_tokens")
    )
    return llm.TokenUsage(
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


def mistral_id(call_id: str) -> str:
    """A call id as Mistral takes it: nine letters or digits. Mistral's own ids pass as they
    are; any other (another provider's) is mapped, the same way for a call and its result."""
    if _MISTRAL_ID.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8])
    digits = []
    for _ in range(9):
        number, digit = divmod(number, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)


def _message(message: llm.ChatMessage) -> Any:
    """The SDK's message model (see ``_MESSAGE``) for a domain message."""
    if message.role == "tool":
        return ToolMessage(
            content=message.content,
            tool_call_id=mistral_id(message.tool_call_id or ""),
            name=message.name,
        )
    content: Any = message.content
    if message.images:
        content = [
            TextChunk(text=p.text)
            if isinstance(p, llm.TextPart)
            else ImageURLChunk(image_url=p.url)
            for p in message.parts
        ]
    if message.role == "assistant" and message.tool_calls:
        calls = [
            ToolCall(
                id=mistral_id(c.id),
                function=FunctionCall(name=c.name, arguments=c.arguments),
                index=index,
            )
            for index, c in enumerate(message.tool_calls)
        ]
        return AssistantMessage(content=content or None, tool_calls=calls)
    return _MESSAGE[message.role](content=content)


def _call(call: ToolCall) -> llm.ToolCall:
    arguments = call.function.arguments
    text = arguments if isinstance(arguments, str) else json_text(arguments)
    return llm.ToolCall(call.id or "", call.function.name, text)


class MistralProvider(ProviderAdapter[ChatCompletionResponse, CompletionEvent]):
    """Chat completions over one long-lived ``Mistral`` client, SDK retries off."""

    FINISH_REASONS = MISTRAL_FINISH_REASONS
    OPTION_NAMES = {"seed": "random_seed"}
    TIMEOUT_ERRORS = (httpx2.TimeoutException,)
    CONNECTION_ERRORS = (httpx2.TransportError, NoResponseError)
    # A ``MistralError`` with a 2xx status: a body that does not parse.
    UNREADABLE_ERRORS = (MistralError, *ProviderAdapter.UNREADABLE_ERRORS)

    def __init__(self, spec: llm.ProviderSpec, config: ProviderConfig) -> None:
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

    async def aclose(self) -> None:
        await self._http.aclose()

    def _params(self, request: llm.ChatRequest) -> dict[str, Any]:
        """The call's arguments: every message in order, system messages first as given."""
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(m) for m in request.messages],
            "max_tokens": self.output_ceiling(request),
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        params |= shapes.tooling(request.tools, request.tool_choice, request.response_format)
        return params | self.options(request)

    async def _send(self, params: dict[str, Any]) -> ChatCompletionResponse:
        return await self._client.chat.complete_async(**params)

    async def _open_stream(
        self, params: dict[str, Any]
    ) -> AbstractAsyncContextManager[AsyncIterator[CompletionEvent]]:
        return await self._client.chat.stream_async(**params)

    def _result(self, request: llm.ChatRequest, response: ChatCompletionResponse) -> llm.ChatResult:
        if not response.choices:
            raise self.unreadable("a response without choices")
        choice = response.choices[0]
        reply, reasoning = _split_content(choice.message.content if choice.message else None)
        calls = choice.message.tool_calls if choice.message else None
        return llm.ChatResult(
            text=reply,
            model=response.model or request.model,
            usage=usage_from_mistral(response.usage),
            finish_reason=self.finish_reason(choice.finish_reason),
            reasoning_content=reasoning or None,
            tool_calls=tuple(_call(c) for c in calls or ()),
        )

    def _read_chunk(
        self, reply: StreamAssembly, chunk: CompletionEvent
    ) -> Iterator[llm.StreamEvent]:
        data = chunk.data
        reply.model = data.model or reply.model
        if data.usage is not None:
            reply.usage = usage_from_mistral(data.usage)
        for choice in data.choices:
            reply.finish(choice.finish_reason)
            piece, thought = _split_content(choice.delta.content)
            reply.thought(thought)
            if delta := reply.text(piece):
                yield delta
            for position, call in enumerate(choice.delta.tool_calls or ()):
                index = call.index if call.index is not None else position
                yield from reply.calls_done(before=index)
                whole = _call(call)
                reply.call_part(index, call.id, whole.name, whole.arguments)

    def _upstream_status(self, error: Exception) -> UpstreamStatus | None:
        """The status and ``message`` of Mistral's error body."""
        if not isinstance(error, MistralError) or error.status_code < 400:
            return None
        try:
            body = json.loads(error.body)
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        if not (isinstance(message, str) and message):
            message = f"HTTP {error.status_code}"
        return UpstreamStatus(error.status_code, message, error.headers)
