"""The OpenAI chat-completions protocol, shared by every vendor that speaks it.

OpenAI, xAI (Grok), DeepSeek, Moonshot (Kimi) and Ollama all answer
``POST {base_url}/chat/completions`` in OpenAI's shape, so one adapter over the official
``openai`` SDK serves them all. Each vendor module subclasses ``OpenAICompatibleProvider``
and states only what differs (default base URL, quirks as class flags); its name, models and
key variable are its registry entry.

The request goes through the SDK client's public ``post`` rather than
``chat.completions.create``: ``create`` runs the body through the SDK's parameter transform,
which walks every message against the whole ``ChatCompletionMessageParam`` union (~390
recursive calls a request, the largest single cost of a turn in the gateway's profile) and
changes only aliased keys, dates and files, none of which ``_params`` ever builds. ``post``
is what ``create`` then calls, with the same path, body and options, so the client's
connection pool, time-out, disabled retries and error classes are all unchanged. Two of its
arguments are given in the form the SDK does least work for: the URL absolute, joined to the
client's base URL once (a relative path is parsed, merged and parsed again on every request),
and the body as JSON bytes from orjson, which the SDK sends as they are (``content``; its
own encoder is the stdlib's, about twenty times slower on a turn's messages); a body orjson
cannot encode (an integer beyond 64 bits) is handed over as the dict (``body``), for the SDK
to encode as before.
The request options name the client's own time-out, retries, headers and query, which the SDK
would otherwise deep-copy from its defaults. Together about 5 % of a turn's instructions
(docs/benchmarks.md, round six). The SDK's telemetry headers are left out (``sdk_headers``).

A whole response is read as JSON rather than as a ``ChatCompletion``: the SDK builds its
response models field by field without validating them (``construct``), a tenth of a turn's
CPU, only for ``_result`` to read five fields back. The SDK hands over the body's bytes
(``cast_to=bytes``, after its own status checks) and orjson decodes them, 3 % of a provider
call less than the SDK's stdlib decoding and content-type checks (round eleven); a body that
is not JSON is unreadable either way. The usage is read from its JSON too, and a stream's
from the members its last chunk had (``to_dict``), so both paths account it by the same
function. Stream chunks stay the SDK's models, which the SDK builds as each event is
decoded.

Usage quirks, normalized by :func:`usage_from_openai`:

* OpenAI: ``prompt_tokens`` already *includes* ``prompt_tokens_details.cached_tokens``;
  ``completion_tokens`` already includes ``completion_tokens_details.reasoning_tokens``.
* DeepSeek: reports ``prompt_cache_hit_tokens`` and ``prompt_cache_miss_tokens`` (fields the
  SDK does not declare, extras of its models); hit + miss is the whole prompt.
* xAI: ``completion_tokens`` *excludes* reasoning tokens (``total_tokens`` = prompt +
  completion + reasoning), so they are added back (``REASONING_IN_COMPLETION_TOKENS``).
* Moonshot: a stream may carry its usage inside the last choice (``choices[0].usage``)
  instead of a separate usage chunk; both places are read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Final

import openai
import orjson
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from src.domain import llm
from src.domain.tokens import estimated_usage
from src.infrastructure.llm_providers import openai_shapes as shapes
from src.infrastructure.llm_providers import sdk_headers
from src.infrastructure.llm_providers.assembly import StreamAssembly
from src.infrastructure.llm_providers.base import (
    ProviderAdapter,
    ProviderConfig,
    UpstreamStatus,
)

#: Sent where the runtime needs no key (Ollama ignores it; the SDK refuses an empty one).
_KEYLESS_PLACEHOLDER = "keyless"
#: Relative to the base URL, whose path it extends (``…/v1`` + ``chat/completions``).
_PATH = "chat/completions"
#: The deprecated ``function_call`` reason is a tool call by its older name.
OPENAI_FINISH_REASONS: Final[Mapping[str, llm.FinishReason]] = {"function_call": "tool_calls"}


def usage_from_openai(
    usage: Mapping[str, Any], *, reasoning_in_completion: bool = True
) -> llm.TokenUsage:
    """Provider-reported usage, the ``usage`` object of a response or of a stream's last
    chunk as JSON, in the domain's convention (input includes cached reads).

    Read from the JSON itself: building the SDK's ``CompletionUsage`` from it only to read
    it back took 3 % of a turn's CPU (``docs/benchmarks.md``, round ten)."""
    hit, miss = usage.get("prompt_cache_hit_tokens"), usage.get("prompt_cache_miss_tokens")
    prompt_details = _members(usage.get("prompt_tokens_details"))
    if isinstance(hit, int) and isinstance(miss, int):
        # DeepSeek: the split is authoritative; hit + miss is the whole prompt.
        input_tokens, cached = hit + miss, hit
    else:
        input_tokens = usage.get("prompt_tokens") or 0
        cached = prompt_details.get("cached_tokens") or 0
    cache_write = prompt_details.get("cache_write_tokens") or 0
    reasoning = _members(usage.get("completion_tokens_details")).get("reasoning_tokens") or 0
    output = (usage.get("completion_tokens") or 0) + (0 if reasoning_in_completion else reasoning)
    return llm.TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output,
        cached_input_tokens=cached,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
    )


def _members(value: object) -> Mapping[str, Any]:
    """A JSON object's members; none for anything else (``null``, or a value of the wrong
    type)."""
    return value if isinstance(value, Mapping) else {}


#: A whole response as the SDK decoded it from JSON.
Completion = Mapping[str, Any]


class OpenAICompatibleProvider(ProviderAdapter[Completion, ChatCompletionChunk]):
    """Chat completions over one long-lived ``AsyncOpenAI`` client, SDK retries off, on the
    SDK's official aiohttp backend (``DefaultAioHttpClient``): aiohttp's C parser and
    connection pool cost a turn about a fifth less CPU than the default httpx2 transport
    (docs/benchmarks.md)."""

    DEFAULT_BASE_URL: ClassVar[str]
    #: Send a previous answer's ``reasoning_content`` back with it on later turns.
    SEND_REASONING_BACK: ClassVar[bool] = False
    #: Send it back only with an answer that called tools (DeepSeek's thinking mode).
    SEND_REASONING_WITH_TOOL_CALLS: ClassVar[bool] = False
    #: OpenAI's reasoning models refuse ``max_tokens``; they take ``max_completion_tokens``.
    USES_MAX_COMPLETION_TOKENS: ClassVar[bool] = False
    #: False where ``completion_tokens`` leaves the reasoning tokens out (xAI).
    REASONING_IN_COMPLETION_TOKENS: ClassVar[bool] = True

    FINISH_REASONS = OPENAI_FINISH_REASONS
    TIMEOUT_ERRORS = (openai.APITimeoutError,)
    CONNECTION_ERRORS = (openai.APIConnectionError,)
    # Bad JSON, a wrong shape, an error event mid-stream.
    UNREADABLE_ERRORS = (openai.APIError, *ProviderAdapter.UNREADABLE_ERRORS)

    def __init__(self, spec: llm.ProviderSpec, config: ProviderConfig) -> None:
        super().__init__(spec, config)
        self._client = openai.AsyncOpenAI(
            api_key=config.api_key or _KEYLESS_PLACEHOLDER,
            base_url=config.base_url or self.DEFAULT_BASE_URL,
            # A ``Timeout``, which the HTTP client copies for each request; a number it would
            # check against a runtime protocol first (``SupportsFloat``), 2 % of a call.
            timeout=openai.Timeout(config.timeout_s),
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(timeout=config.timeout_s),
            default_headers=sdk_headers.omitted(sdk_headers.PLATFORM, openai.omit),
        )
        # The SDK gives its base URL a trailing slash, so the join keeps the base's path.
        self._url = str(self._client.base_url.join(_PATH))

    async def aclose(self) -> None:
        await self._client.close()

    # -- request ---------------------------------------------------------------------------

    def _params(self, request: llm.ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [self._message(m) for m in request.messages],
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            limit_name = (
                "max_completion_tokens" if self.USES_MAX_COMPLETION_TOKENS else "max_tokens"
            )
            params[limit_name] = request.max_tokens
        params |= shapes.tooling(request.tools, request.tool_choice, request.response_format)
        return params | self.options(request)

    def _message(self, message: llm.ChatMessage) -> dict[str, Any]:
        wire = shapes.message(message, message_content(message))
        send_reasoning = self.SEND_REASONING_BACK or (
            self.SEND_REASONING_WITH_TOOL_CALLS and bool(message.tool_calls)
        )
        if send_reasoning and message.role == "assistant" and message.reasoning_content:
            wire["reasoning_content"] = message.reasoning_content
        return wire

    def _options(self) -> openai.RequestOptions:
        """The options ``chat.completions.create`` passes (authenticate with the API key
        only), and the client's own time-out, retries, headers and query given as they are:
        the SDK deep-copies each default left out, a fifth of building its request options.
        The headers leave out the SDK's telemetry of the call (``sdk_headers``), which only a
        request's own headers can. New dicts each call, as the SDK may keep them on the
        request's options."""
        return openai.RequestOptions(
            security={"bearer_auth": True},
            timeout=self._client.timeout,
            max_retries=self._client.max_retries,
            headers=sdk_headers.omitted(sdk_headers.PER_CALL, openai.omit),
            params={},
        )

    async def _send(self, params: dict[str, Any]) -> Completion:
        body, content = _encoded(params)
        raw = await self._client.post(
            self._url, body=body, content=content, cast_to=bytes, options=self._options()
        )
        response = orjson.loads(raw)
        if not isinstance(response, Mapping):
            raise self.unreadable("a response that is not a JSON object")
        return response

    async def _open_stream(
        self, params: dict[str, Any]
    ) -> AbstractAsyncContextManager[AsyncIterator[ChatCompletionChunk]]:
        body, content = _encoded(
            {**params, "stream": True, "stream_options": {"include_usage": True}}
        )
        return await self._client.post(
            self._url,
            body=body,
            content=content,
            cast_to=ChatCompletion,
            options=self._options(),
            stream=True,
            stream_cls=openai.AsyncStream[ChatCompletionChunk],
        )

    # -- response --------------------------------------------------------------------------

    def _result(self, request: llm.ChatRequest, response: Completion) -> llm.ChatResult:
        choices = response.get("choices")
        if not choices:
            raise self.unreadable("a response without choices")
        choice = choices[0]
        message = choice["message"]
        reply = message.get("content") or ""
        usage = response.get("usage")
        return llm.ChatResult(
            text=reply,
            model=response.get("model") or request.model,
            usage=self._usage(usage) if usage else estimated_usage(request, reply),
            finish_reason=self.finish_reason(choice.get("finish_reason")),
            reasoning_content=_text_or_none(message.get("reasoning_content")),
            tool_calls=tuple(
                llm.ToolCall(call["id"], call["function"]["name"], call["function"]["arguments"])
                for call in message.get("tool_calls") or ()
                if call.get("type", "function") == "function"
            ),
        )

    def _read_chunk(
        self, reply: StreamAssembly, chunk: ChatCompletionChunk
    ) -> Iterator[llm.StreamEvent]:
        reply.model = getattr(chunk, "model", None) or reply.model
        reply.usage = self._chunk_usage(chunk) or reply.usage
        for choice in getattr(chunk, "choices", None) or ():
            reply.finish(choice.finish_reason)
            reply.thought(_extra_text(choice.delta, "reasoning_content"))
            if delta := reply.text(choice.delta.content):
                yield delta
            yield from shapes.read_fragments(reply, choice.delta.tool_calls or ())

    def _chunk_usage(self, chunk: ChatCompletionChunk) -> llm.TokenUsage | None:
        if usage := getattr(chunk, "usage", None):
            # The members the chunk's JSON had, as the whole response's ``usage`` has them.
            return self._usage(usage.to_dict(warnings=False))
        for choice in getattr(chunk, "choices", None) or ():
            raw = (choice.model_extra or {}).get("usage")
            if isinstance(raw, Mapping):  # Moonshot: usage inside the last choice
                return self._usage(raw)
        return None

    def _usage(self, usage: Mapping[str, Any]) -> llm.TokenUsage:
        return usage_from_openai(usage, reasoning_in_completion=self.REASONING_IN_COMPLETION_TOKENS)

    # -- errors ----------------------------------------------------------------------------

    def _upstream_status(self, error: Exception) -> UpstreamStatus | None:
        if not isinstance(error, openai.APIStatusError):
            return None
        # The SDK hands over the body's ``error`` member: OpenAI's is an object with a
        # ``message``, xAI's is the message itself (``{"code": ..., "error": "..."}``).
        body = error.body
        message = body.get("message") if isinstance(body, Mapping) else body
        if not (isinstance(message, str) and message):
            message = f"HTTP {error.status_code}"
        return UpstreamStatus(error.status_code, message, error.response.headers)


def _encoded(body: dict[str, Any]) -> tuple[dict[str, Any] | None, bytes | None]:
    """``post``'s ``body`` and ``content``: the JSON the SDK would send, as bytes, or the
    body as it is where orjson cannot encode it (an integer beyond 64 bits), for the SDK's
    own encoder."""
    try:
        return None, orjson.dumps(body)
    except orjson.JSONEncodeError:
        return body, None


def message_content(message: llm.ChatMessage) -> str | list[dict[str, Any]]:
    """A message's text, or its parts as OpenAI content parts when it carries images."""
    if not message.images:
        return message.content
    return [
        {"type": "text", "text": part.text}
        if isinstance(part, llm.TextPart)
        else {"type": "image_url", "image_url": _image_url(part)}
        for part in message.parts
    ]


def _image_url(image: llm.ImagePart) -> dict[str, str]:
    url = {"url": image.url}
    if image.detail is not None:
        url["detail"] = image.detail
    return url


def _extra_text(model: Any, field: str) -> str | None:
    """A string field the SDK does not declare (e.g. ``reasoning_content``), if present."""
    return _text_or_none((getattr(model, "model_extra", None) or {}).get(field))


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
