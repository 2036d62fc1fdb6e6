"""The OpenAI chat-completions shapes of tools, tool calls and structured output.

OpenAI, its compatible vendors, Mistral and DashScope take these same JSON objects, so they
are written once here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from src.domain.llm import ForcedTool, ResponseFormat, ToolCall, ToolChoice, ToolDefinition
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
