"""The OpenAI chat-completions shapes of tools, tool calls and structured output.

OpenAI, its compatible vendors, Mistral and DashScope take these same JSON objects, so they
are written once here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from src.domain.llm import (
    ChatMessage,
    ForcedTool,
    ResponseFormat,
    ToolCall,
    ToolCallReady,
    ToolChoice,
    ToolDefinition,
)
from src.infrastructure.llm_providers.assembly import StreamAssembly
from src.infrastructure.llm_providers.payloads import declaration


def tool(definition: ToolDefinition) -> dict[str, Any]:
    function = declaration(definition, "parameters")
    if definition.strict is not None:
        function["strict"] = definition.strict
    return {"type": "function", "function": function}


def tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if isinstance(choice, ForcedTool):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def tool_calls(calls: Iterable[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]


def response_format(wanted: ResponseFormat) -> dict[str, Any]:
    if wanted.type == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": wanted.name or "response"}
    if wanted.schema is not None:
        schema["schema"] = dict(wanted.schema)
    if wanted.strict is not None:
        schema["strict"] = wanted.strict
    return {"type": "json_schema", "json_schema": schema}


def tooling(
    tools: tuple[ToolDefinition, ...],
    choice: ToolChoice | None,
    wanted: ResponseFormat | None,
) -> dict[str, Any]:
    """The ``tools``, ``tool_choice`` and ``response_format`` members a request needs."""
    params: dict[str, Any] = {}
    if tools:
        params["tools"] = [tool(t) for t in tools]
    if choice is not None:
        params["tool_choice"] = tool_choice(choice)
    if wanted is not None:
        params["response_format"] = response_format(wanted)
    return params


def message(message: ChatMessage, content: object) -> dict[str, Any]:
    """A message in OpenAI's shape: an assistant's ``tool_calls`` (its content then null when
    empty), a tool result's ``tool_call_id``."""
    wire: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        wire["tool_calls"] = tool_calls(message.tool_calls)
        wire["content"] = content or None
    if message.role == "tool":
        wire["tool_call_id"] = message.tool_call_id
    return wire


class _Function(Protocol):
    @property
    def name(self) -> str | None: ...

    @property
    def arguments(self) -> str | None: ...


class CallFragment(Protocol):
    """A ``delta.tool_calls`` item, as each SDK types it."""

    @property
    def index(self) -> int | None: ...

    @property
    def id(self) -> str | None: ...

    @property
    def function(self) -> _Function | None: ...


def read_fragments(reply: StreamAssembly, parts: Iterable[CallFragment]) -> Iterator[ToolCallReady]:
    """Adds streamed call fragments to ``reply``: a call's fragments come in order, so a new
    index means the calls before it are whole, and those are returned."""
    for position, part in enumerate(parts):
        index = part.index if part.index is not None else position
        yield from reply.calls_done(before=index)
        function = part.function
        name, arguments = (function.name, function.arguments) if function else (None, None)
        reply.call_part(index, part.id, name, arguments)
