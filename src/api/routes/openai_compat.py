"""OpenAI-compatible front door: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Existing OpenAI clients work unchanged. ``model`` is ``provider/model`` (or a provider name, or
a model of the default provider). With an ``X-Session-Id`` header the session's memory is
used: the request's last user message is the new turn, its system messages override the
session's system prompt, and memory supplies the rest. Without it the call is stateless, yet
still counted in the global metrics.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Response

from src.api.dependencies import Services, ServicesDep
from src.api.errors import ApiError, openai_error_body, payload_too_large, status_of
from src.api.routes import openai_error_responses
from src.api.streaming import open_stream, sse_response
from src.domain.errors import OrchestratorError
from src.domain.llm import ChatMessage, ChatRole, TextDelta, TokenUsage
from src.domain.passthrough import PassthroughResult
from src.domain.turns import SessionOpened, Target, TurnCommand, TurnDone, TurnResult
from src.models.openai_compat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    CompletionUsage,
    ModelCard,
    ModelList,
)

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

SessionId = Annotated[
    str | None,
    Header(alias="X-Session-Id", description="Use this session's server-side memory."),
]


@dataclass(frozen=True, slots=True)
class _Final:
    """The end of a reply, whichever path produced it."""

    model: str
    text: str
    usage: TokenUsage
    reasoning: str | None
    session_id: str | None


@router.get("/models", response_model=ModelList)
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
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": _SSE_DOC},
        **openai_error_responses(400, 404, 409, 413, 422, 502, 503, 504),
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    services: ServicesDep,
    response: Response,
    session_id: SessionId = None,
) -> Any:
    limit = services.config.max_message_chars
    for index, message in enumerate(body.messages):
        if len(message.text) > limit:
            raise payload_too_large(f"messages[{index}].content", limit, len(message.text))
    catalog = {p.name: p.default_model for p in services.providers.describe()}
    target = _target(body.model, set(catalog))
    provider = target.provider or services.providers.default_provider
    label = f"{provider}/{target.model or catalog.get(provider, '')}"
    max_tokens = body.max_completion_tokens or body.max_tokens
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if session_id is not None:
        command = _turn_command(body, target, max_tokens, session_id)
        if body.stream:
            events = _from_turn(services.manager.stream_turn(command))
            return await _stream(services, events, include_usage, label)
        with services.lifecycle.turn():
            result = await services.manager.run_turn(command)
        response.headers["X-Session-Id"] = result.session_id
        return _completion(_turn_final(result))
    messages = tuple(ChatMessage(_role(m.role), m.text) for m in body.messages)
    passthrough = services.passthrough
    if body.stream:
        events = _from_passthrough(
            passthrough.stream(target, messages, body.temperature, max_tokens)
        )
        return await _stream(services, events, include_usage, label)
    with services.lifecycle.turn():
        answer = await passthrough.complete(target, messages, body.temperature, max_tokens)
    return _completion(_passthrough_final(answer))


def _target(model: str, providers: set[str]) -> Target:
    prefix, slash, rest = model.partition("/")
    if slash and prefix in providers:
        return Target(prefix, rest or None)
    if model in providers:
        return Target(model)
    return Target(None, model)


def _role(role: str) -> ChatRole:
    """OpenAI's ``developer`` role is a system message under another name."""
    return "system" if role == "developer" else cast(ChatRole, role)


def _turn_command(
    body: ChatCompletionRequest, target: Target, max_tokens: int | None, session_id: str
) -> TurnCommand:
    users = [m for m in body.messages if m.role == "user"]
    if not users:
        raise ApiError(
            400, "invalid_request", "messages: a session turn needs at least one user message"
        )
    system = "\n\n".join(m.text for m in body.messages if m.role in ("system", "developer"))
    return TurnCommand(
        message=users[-1].text,
        session_id=session_id,
        target=target,
        temperature=body.temperature,
        max_tokens=max_tokens,
        system_prompt=system or None,
    )


def _turn_final(result: TurnResult) -> _Final:
    return _Final(
        f"{result.provider}/{result.model}",
        result.response,
        result.usage,
        result.reasoning_content,
        result.session_id,
    )


def _passthrough_final(answer: PassthroughResult) -> _Final:
    result = answer.result
    return _Final(
        f"{answer.provider}/{answer.model}",
        result.text,
        result.usage,
        result.reasoning_content,
        None,
    )


async def _from_turn(events: AsyncIterator[Any]) -> AsyncIterator[str | _Final]:
    async for event in events:
        if isinstance(event, SessionOpened):
            yield ""  # memory is loaded: errors up front are over
        elif isinstance(event, TextDelta):
            yield event.text
        elif isinstance(event, TurnDone):
            yield _turn_final(event.result)


async def _from_passthrough(
    events: AsyncIterator[TextDelta | PassthroughResult],
) -> AsyncIterator[str | _Final]:
    async for event in events:
        yield event.text if isinstance(event, TextDelta) else _passthrough_final(event)


def _usage(usage: TokenUsage) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details={"cached_tokens": usage.cached_input_tokens},
        completion_tokens_details={"reasoning_tokens": usage.reasoning_tokens},
    )


def _completion(final: _Final) -> ChatCompletion:
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=final.model,
        choices=[
            Choice(message=AssistantMessage(content=final.text, reasoning_content=final.reasoning))
        ],
        usage=_usage(final.usage),
    )


async def _stream(
    services: Services, events: AsyncIterator[str | _Final], include_usage: bool, model: str
) -> Any:
    """OpenAI's chunk stream; ``model`` is the ``provider/model`` label every chunk carries."""
    events = await open_stream(services.lifecycle, events)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
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
        try:
            yield delta({"role": "assistant", "content": ""})
            async for event in events:
                if isinstance(event, _Final):
                    yield delta({}, "stop")
                    if include_usage:
                        yield chunk([], usage=_usage(event.usage).model_dump())
                elif event:
                    yield delta({"content": event})
            yield "data: [DONE]\n\n"
        except OrchestratorError as error:
            status, code = status_of(error)
            yield f"data: {json.dumps(openai_error_body(status, code, error.message))}\n\n"

    return sse_response(body())
