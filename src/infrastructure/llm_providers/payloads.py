"""Tool arguments, tool results and images in the forms APIs other than OpenAI's take.

Every API declares a tool as a name, a description and a schema, under its own key for the
schema. Anthropic's ``tool_use.input`` and Gemini's ``functionCall.args`` and
``functionResponse.response`` are JSON objects, where the domain keeps the JSON text the
model wrote; Anthropic and Gemini
take an image's bytes apart from its media type, where the domain keeps a data URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from src.domain.llm import ToolDefinition

_DATA_URL: Final = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.S)


def declaration(
    tool: ToolDefinition, schema_key: str, default_schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A function's ``name``, ``description`` and parameter schema under ``schema_key``: the
    shape every API declares a tool in, under its own name for the schema."""
    fields: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        fields["description"] = tool.description
    if (schema := tool.parameters or default_schema) is not None:
        fields[schema_key] = dict(schema)
    return fields


def json_object(text: str, key: str) -> dict[str, Any]:
    """``text`` as a JSON object: as it is when it is one, else wrapped as ``{key: value}``
    (a bare value, or text that is not JSON at all: what a tool may well return)."""
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {key: text}
    return value if isinstance(value, dict) else {key: value}


def json_text(value: object) -> str:
    """A provider's JSON object as the domain's arguments text."""
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def data_url(url: str) -> tuple[str, str] | None:
    """``(media type, base64 data)`` of a ``data:`` URL, or ``None`` for any other URL."""
    match = _DATA_URL.fullmatch(url)
    return (match["mime"], match["data"]) if match else None
