"""The domain's request in Anthropic's Messages terms: ``system``, alternating turns of content
blocks, ``tools`` and ``tool_choice``.

- Every system message is joined into the top-level ``system``; the conversation must
  alternate ``user`` and ``assistant``, so consecutive messages of one side are merged (a turn
  of plain text stays a string, as before blocks were needed).
- An assistant's tool calls are ``tool_use`` blocks (their arguments parsed into ``input``); a
  tool result is a ``tool_result`` block in a user turn, so the results of one assistant turn
  all land in one user message, ahead of any text that follows them.
- Images are ``image`` blocks: a data URL as ``base64`` source, any other URL as ``url``.
- Anthropic has no JSON mode. ``response_format`` is honoured with a forced tool
  (``JSON_TOOL``) whose input schema is the schema asked for; the adapter turns that tool's
  input back into the reply's text. It cannot be combined with the request's own tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from src.domain.errors import InvalidInput
from src.domain.llm import ChatMessage, ChatRequest, ForcedTool, ImagePart, ToolDefinition
from src.infrastructure.llm_providers.payloads import data_url, declaration, json_object

#: The forced tool that stands for ``response_format``, unless the format names itself.
JSON_TOOL: Final = "json_response"
_ANY_OBJECT: Final = {"type": "object"}


def json_tool_name(request: ChatRequest) -> str | None:
    """The forced tool standing for the request's ``response_format``, if it has one."""
    wanted = request.response_format
    return None if wanted is None else (wanted.name or JSON_TOOL)


def tooling(request: ChatRequest, parallel_tool_calls: object) -> dict[str, Any]:
    """``tools`` and ``tool_choice``: the request's own, or the forced JSON tool."""
    if (name := json_tool_name(request)) is not None:
        if request.tools:
            raise InvalidInput(
                "anthropic cannot combine tools with a response_format (response_format)",
                details={"field": "response_format", "provider": "anthropic"},
            )
        wanted = request.response_format
        schema = dict(wanted.schema) if wanted and wanted.schema else _ANY_OBJECT
        definition = ToolDefinition(name, "Give the answer as this tool's input.", schema)
        return {
            "tools": [declaration(definition, "input_schema")],
            "tool_choice": {"type": "tool", "name": name},
        }
    params: dict[str, Any] = {}
    if request.tools:
        params["tools"] = [declaration(t, "input_schema", _ANY_OBJECT) for t in request.tools]
    choice = _tool_choice(request)
    if parallel_tool_calls is False and request.tools:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        params["tool_choice"] = choice
    return params


def alternating(messages: Iterable[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation as alternating Anthropic messages of content blocks."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        side = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if turns and turns[-1][0] == side:
            turns[-1][1].extend(blocks)
        else:
            turns.append((side, blocks))
    return [{"role": side, "content": _content(blocks)} for side, blocks in turns]


def _content(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(block["type"] == "text" for block in blocks):
        return "\n\n".join(block["text"] for block in blocks)
    return blocks


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
        ]
    blocks = [
        _image(part) if isinstance(part, ImagePart) else {"type": "text", "text": part.text}
        for part in message.parts
    ] or ([{"type": "text", "text": message.content}] if message.content else [])
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": json_object(c.arguments, "input")}
        for c in message.tool_calls
    ]
    return blocks or [{"type": "text", "text": message.content}]


def _image(image: ImagePart) -> dict[str, Any]:
    inline = data_url(image.url)
    if inline is None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    media_type, data = inline
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if isinstance(choice, ForcedTool):
        return {"type": "tool", "name": choice.name}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}
