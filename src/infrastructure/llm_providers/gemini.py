"""Google's Gemini Developer API through the ``google-genai`` SDK.

``google-generativeai`` is Google's deprecated SDK; ``google-genai`` is its successor. Quirks
handled here:

- The request (system instruction, contents, tools, structured output, options) is built by
  ``gemini_contents``; Gemini gives its calls no ids, so each call it returns gets one of
  ours, and results are matched by order and name.
- The SDK calls ``{base_url}/v1/models/{model}:generateContent`` and
  ``:streamGenerateContent?alt=sse``. It prefers aiohttp when installed, whose time-out is a
  deadline for the whole response that would cut long streams, and retries a refused
  connection on its own (after 1-10 s) unless retry options are given. So the adapter hands
  it an httpx client it owns (the time-out then applies to each read, as for the other
  providers) and retry options of a single attempt.
- ``usageMetadata.promptTokenCount`` already includes cached tokens, and thinking tokens
  are counted apart from the candidates (see ``usage_from_gemini``).
- A rejected key is a 400 ``INVALID_ARGUMENT`` whose ``ErrorInfo`` reason is
  ``API_KEY_INVALID``, not a 401; a 429 says when to retry in a ``RetryInfo`` detail of the
  body (``"retryDelay": "7s"``), not in a ``Retry-After`` header.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

import httpx2
from google import genai
from google.genai import errors, types

from src.domain import llm
from src.domain.tokens import estimated_usage
from src.infrastructure.llm_providers.assembly import StreamAssembly
from src.infrastructure.llm_providers.base import (
    ProviderAdapter,
    ProviderConfig,
    UpstreamStatus,
    released,
)
from src.infrastructure.llm_providers.gemini_contents import config_fields, contents
from src.infrastructure.llm_providers.payloads import json_text

_RETRY_INFO: Final = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"
#: Gemini's finish reasons in the domain's words. ``FINISH_REASON_UNSPECIFIED``, ``OTHER`` and
#: ``MALFORMED_FUNCTION_CALL`` have none.
GEMINI_FINISH_REASONS: Final[Mapping[str, llm.FinishReason]] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(
        (
            "SAFETY",
            "RECITATION",
            "LANGUAGE",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
        ),
        "content_filter",
    ),
}


def usage_from_gemini(usage: types.GenerateContentResponseUsageMetadata) -> llm.TokenUsage:
    """Gemini usage in the domain's terms.

    ``prompt_token_count`` already includes ``cached_content_token_count``; tool results
    fed back to the model (``tool_use_prompt_token_count``) are billed as input too.
    ``thoughts_token_count`` is billed as output but reported apart from
    ``candidates_token_count``, so output is their sum and the thoughts are its reasoning.
    Gemini bills no per-token cache writes (cache storage is billed by the hour).
    """
    thoughts = usage.thoughts_token_count or 0
    return llm.TokenUsage(
        input_tokens=(usage.prompt_token_count or 0) + (usage.tool_use_prompt_token_count or 0),
        output_tokens=(usage.candidates_token_count or 0) + thoughts,
        cached_input_tokens=usage.cached_content_token_count or 0,
        reasoning_tokens=thoughts,
    )


def _text_of(response: types.GenerateContentResponse) -> str:
    """The answer's text, without thought summaries."""
    if not response.candidates or not response.candidates[0].content:
        return ""
    parts = response.candidates[0].content.parts or []
    return "".join(part.text for part in parts if part.text and not part.thought)


def _calls_of(response: types.GenerateContentResponse) -> Iterator[llm.ToolCall]:
    """The calls of the answer; Gemini gives no ids, so each gets one of ours."""
    content = response.candidates[0].content if response.candidates else None
    for part in (content.parts if content else None) or ():
        if (call := part.function_call) is not None and call.name:
            call_id = call.id or f"call_{secrets.token_hex(12)}"
            yield llm.ToolCall(call_id, call.name, json_text(call.args))


def _native_finish_reason(response: types.GenerateContentResponse) -> str | None:
    if not response.candidates or response.candidates[0].finish_reason is None:
        return None
    return str(response.candidates[0].finish_reason.value)


def _error_details(exc: errors.APIError) -> list[Mapping[str, Any]]:
    body = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    details = body.get("details") if isinstance(body, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _retry_delay(details: list[Mapping[str, Any]]) -> str | None:
    """Seconds from a ``RetryInfo`` detail (``"retryDelay": "7s"`` or ``"0.5s"``)."""
    for detail in details:
        delay = detail.get("retryDelay")
        if detail.get("@type") == _RETRY_INFO and isinstance(delay, str) and delay.endswith("s"):
            return delay.removesuffix("s")
    return None


class GeminiProvider(ProviderAdapter[types.GenerateContentResponse, types.GenerateContentResponse]):
    """Gemini models through ``genai.Client(...).aio``, with the SDK's retries off."""

    FINISH_REASONS = GEMINI_FINISH_REASONS
    TIMEOUT_ERRORS = (httpx2.TimeoutException,)
    CONNECTION_ERRORS = (httpx2.TransportError,)
    UNREADABLE_ERRORS = (errors.APIError, httpx2.HTTPError, *ProviderAdapter.UNREADABLE_ERRORS)

    def __init__(self, spec: llm.ProviderSpec, config: ProviderConfig) -> None:
        super().__init__(spec, config)
        self._http = httpx2.AsyncClient(timeout=config.timeout_s)
        self._client = genai.Client(
            vertexai=False,
            api_key=config.api_key,
            http_options=types.HttpOptions(
                base_url=config.base_url,
                timeout=round(config.timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
                httpx_async_client=self._http,
            ),
        )

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self._http.aclose()

    def _params(self, request: llm.ChatRequest) -> dict[str, Any]:
        return {
            "model": request.model,
            "contents": contents(request.conversation),
            "config": types.GenerateContentConfig(
                system_instruction=request.system_text,
                temperature=request.temperature,
                max_output_tokens=self.output_ceiling(request),
                **config_fields(request),
            ),
        }

    async def _send(self, params: dict[str, Any]) -> types.GenerateContentResponse:
        return await self._client.aio.models.generate_content(**params)

    async def _open_stream(
        self, params: dict[str, Any]
    ) -> AbstractAsyncContextManager[AsyncIterator[types.GenerateContentResponse]]:
        return released(await self._client.aio.models.generate_content_stream(**params))

    def _result(
        self, request: llm.ChatRequest, response: types.GenerateContentResponse
    ) -> llm.ChatResult:
        text = _text_of(response)
        usage = response.usage_metadata
        return llm.ChatResult(
            text=text,
            model=response.model_version or request.model,
            usage=usage_from_gemini(usage) if usage else estimated_usage(request, text),
            finish_reason=self.finish_reason(_native_finish_reason(response)),
            tool_calls=tuple(_calls_of(response)),
        )

    def _read_chunk(
        self, reply: StreamAssembly, chunk: types.GenerateContentResponse
    ) -> Iterator[llm.StreamEvent]:
        # Every chunk may repeat the usage so far; the last one is complete.
        if chunk.usage_metadata:
            reply.usage = usage_from_gemini(chunk.usage_metadata)
        reply.model = chunk.model_version or reply.model
        # The last chunk always names why the reply ended.
        reply.finish(_native_finish_reason(chunk))
        if delta := reply.text(_text_of(chunk)):
            yield delta
        for call in _calls_of(chunk):  # a part holds a whole call
            reply.call_part(0, call.id, call.name, call.arguments)
            yield from reply.calls_done()

    def _upstream_status(self, error: Exception) -> UpstreamStatus | None:
        if not isinstance(error, errors.APIError):
            return None
        details = _error_details(error)
        status = error.code
        if any(
            d.get("@type") == _ERROR_INFO and d.get("reason") == "API_KEY_INVALID" for d in details
        ):
            status = 401
        headers = dict(error.response.headers) if error.response is not None else {}
        if "retry-after" not in {k.lower() for k in headers} and (delay := _retry_delay(details)):
            headers["retry-after"] = delay
        return UpstreamStatus(status, error.message or str(error.status), headers)
