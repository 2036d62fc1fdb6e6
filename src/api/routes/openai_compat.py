"""OpenAI-compatible front door: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Existing OpenAI clients work unchanged. ``model`` is ``provider/model`` (or a provider name, or
a model of the default provider). With an ``X-Session-Id`` header the session's memory is
used: the request's last user message is the new turn, its system messages override the
session's system prompt, and memory supplies the rest. Without it the call is stateless, yet
still counted in the global metrics.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from src.api.auth import BEARER_SECURITY, TurnContextDep, current_principal
from src.api.dependencies import Services, ServicesDep
from src.api.errors import (
    STREAM_FAILURES,
    ApiError,
    described,
    openai_error_body,
    payload_too_large,
)
from src.api.json_body import JsonRoute
from src.api.routes import openai_error_responses
from src.api.streaming import open_stream, sse_response
from src.domain.llm import TextDelta, TokenUsage, ToolCallReady
from src.domain.targets import parse_target
from src.domain.turns import Target, ToolResult, TurnCommand, TurnDone, TurnEvent, TurnResult
from src.models.openai_compat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    CompletionUsage,
    ModelCard,
    ModelList,
    ToolCallOutOpenAI,
)
from src.models.tools import tool_choice_to_domain

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=JsonRoute)

SessionId = Annotated[
    str | None,
    Header(alias="X-Session-Id", description="Use this session's server-side memory."),
]


@router.get("/models", response_model=ModelList, dependencies=[Depends(current_principal)])
async def list_models(services: ServicesDep) -> ModelList:
    """Every model of every configured provider, named `provider/model`."""
    return ModelList(
        data=[
            ModelCard(id=f"{p.name}/{model}", owned_by=p.name)
            for p in services.providers.describe()
            if p.is_configured
            for model in p.models
        ]
    )


_SSE_DOC = (
    "With `stream: true`: Server-Sent Events, one `data: {chat.completion.chunk}` per piece of"
    " text, then `data: [DONE]`."
)


@router.post(
    "/chat/completions",
    openapi_extra=BEARER_SECURITY,
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": _SSE_DOC},
        **openai_error_responses(400, 404, 409, 413, 422, 502, 503, 504),
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    context: TurnContextDep,
    response: Response,
    session_id: SessionId = None,
) -> Any:
    services, principal = context.services, context.principal
    limit = services.config.max_message_chars
    for index, message in enumerate(body.messages):
        if len(message.text) > limit:
            raise payload_too_large(f"messages[{index}].content", limit, len(message.text))
    target = Target(*parse_target(body.model, services.providers.names))
    label = "/".join(services.providers.resolve(target.provider, target.model))
    max_tokens = body.max_completion_tokens or body.max_tokens
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    asked = TurnCommand(
        message="",
        target=target,
        temperature=body.temperature,
        max_tokens=max_tokens,
        tools=tuple(t.to_domain() for t in body.tools or ()),
        tool_choice=tool_choice_to_domain(body.tool_choice),
        response_format=body.response_format.to_domain() if body.response_format else None,
        options=body.options(),
        principal=principal,
    )
    if session_id is not None:
        command = _session_turn(body, session_id, asked)
    else:
        command = replace(asked, transcript=tuple(m.to_domain() for m in body.messages))
    if body.stream:
        return await _stream(services, services.manager.stream_turn(command), include_usage, label)
    with services.lifecycle.turn():
        result = await services.manager.run_turn(command)
    if result.session_id is not None:
        response.headers["X-Session-Id"] = result.session_id
    return _completion(result)


def _session_turn(body: ChatCompletionRequest, session_id: str, asked: TurnCommand) -> TurnCommand:
    """With server-side memory, the request's tail is the new turn: the tool results after
    the last assistant message, or else the last user message. System messages override the
    session's system prompt; memory supplies the rest."""
    messages = body.messages
    tail_start = len(messages)
    while tail_start > 0 and messages[tail_start - 1].role == "tool":
        tail_start -= 1
    results = tuple(ToolResult(m.tool_call_id or "", m.text) for m in messages[tail_start:])
    users = [m for m in messages if m.role == "user"]
    if not results and not users:
        raise ApiError(
            400,
            "invalid_request",
            "messages: a session turn needs a user message or tool results",
            {"field": "messages"},
        )
    question = users[-1].to_domain() if users and not results else None
    system = "\n\n".join(m.text for m in messages if m.role in ("system", "developer"))
    return replace(
        asked,
        message=question.content if question else "",
        parts=question.parts if question else (),
        session_id=session_id,
        system_prompt=system or None,
        tool_results=results,
    )


def _finish(result: TurnResult) -> Any:
    """OpenAI's finish reason; an interrupted reply ended early, as at a length limit."""
    reason = result.finish_reason or ("tool_calls" if result.tool_calls else "stop")
    return "length" if reason == "interrupted" else reason


def _usage(usage: TokenUsage) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details={"cached_tokens": usage.cached_input_tokens},
        completion_tokens_details={"reasoning_tokens": usage.reasoning_tokens},
    )


def _completion(result: TurnResult) -> ChatCompletion:
    return ChatCompletion(
        id=f"chatcmpl-{secrets.token_hex(16)}",
        created=int(time.time()),
        model=f"{result.provider}/{result.model}",
        choices=[
            Choice(
                message=AssistantMessage(
                    content=result.response or (None if result.tool_calls else ""),
                    tool_calls=[ToolCallOutOpenAI.of(c) for c in result.tool_calls] or None,
                    reasoning_content=result.reasoning_content,
                ),
                finish_reason=_finish(result),
            )
        ],
        usage=_usage(result.usage),
    )


async def _stream(
    services: Services, events: AsyncIterator[TurnEvent], include_usage: bool, model: str
) -> Any:
    """OpenAI's chunk stream; ``model`` is the ``provider/model`` label every chunk carries."""
    events = await open_stream(services.lifecycle, events)
    completion_id = f"chatcmpl-{secrets.token_hex(16)}"
    created = int(time.time())

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def delta(content: dict[str, Any], finish: str | None = None) -> str:
        return chunk([{"index": 0, "delta": content, "finish_reason": finish, "logprobs": None}])

    async def body() -> AsyncIterator[str]:
        calls = 0
        try:
            yield delta({"role": "assistant", "content": ""})
            async for event in events:
                if isinstance(event, TextDelta):
                    yield delta({"content": event.text})
                elif isinstance(event, ToolCallReady):
                    call = ToolCallOutOpenAI.of(event.call).model_dump()
                    yield delta({"tool_calls": [{"index": calls, **call}]})
                    calls += 1
                elif isinstance(event, TurnDone):
                    yield delta({}, _finish(event.result))
                    if include_usage:
                        yield chunk([], usage=_usage(event.result.usage).model_dump())
            yield "data: [DONE]\n\n"
        except STREAM_FAILURES as error:
            status, code = described(error)
            yield f"data: {json.dumps(openai_error_body(status, code, error.message))}\n\n"

    return sse_response(body())
