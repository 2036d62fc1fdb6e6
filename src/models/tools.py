"""OpenAI's shapes for tools, structured output and content parts, shared by ``/api`` and
``/v1``, each with its mapping to the domain's provider-neutral vocabulary."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from src.domain.llm import (
    ContentPart,
    ForcedTool,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolDefinition,
)

_NAME = r"^[A-Za-z0-9_-]{1,64}$"
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+$", re.IGNORECASE)


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, examples=["get_weather"])
    description: str | None = None
    parameters: dict[str, Any] | None = Field(None, description="A JSON Schema object.")
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _an_object_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Every provider takes a function's arguments as one object (Anthropic's input_schema).
        if value is not None and value.get("type", "object") != "object":
            raise ValueError('the arguments schema must have "type": "object"')
        return value


class FunctionTool(BaseModel):
    """`{"type": "function", "function": {"name", "description", "parameters"}}`"""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: FunctionSpec

    def to_domain(self) -> ToolDefinition:
        f = self.function
        return ToolDefinition(f.name, f.description, f.parameters, f.strict)


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)


class ToolChoiceFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: NamedFunction


ToolChoiceIn = Literal["auto", "none", "required"] | ToolChoiceFunction


def tool_choice_to_domain(choice: ToolChoiceIn | None) -> ToolChoice | None:
    if isinstance(choice, ToolChoiceFunction):
        return ForcedTool(choice.function.name)
    return choice


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=_NAME)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormatIn(BaseModel):
    """`{"type": "json_object"}` or `{"type": "json_schema", "json_schema": {...}}`; `text`
    is the default and asks for nothing."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None

    @model_validator(mode="after")
    def _schema_when_asked(self) -> ResponseFormatIn:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("json_schema is required when type is 'json_schema'")
        return self

    def to_domain(self) -> ResponseFormat | None:
        if self.type == "text":
            return None
        if self.type == "json_object":
            return ResponseFormat("json_object")
        spec = self.json_schema
        assert spec is not None
        return ResponseFormat("json_schema", spec.name, spec.schema_, spec.strict)


class ImageUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="An `https://` URL or a base64 `data:image/...` URL.")
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _http_or_data(cls, value: str) -> str:
        if value.startswith(("https://", "http://")) or _DATA_URL.match(value):
            return value
        raise ValueError("url must be an http(s) URL or a base64 data:image/... URL")


class ContentPartIn(BaseModel):
    """`{"type": "text", "text"}` or `{"type": "image_url", "image_url": {"url"}}`"""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageUrl | None = None

    @model_validator(mode="after")
    def _complete(self) -> ContentPartIn:
        if self.type == "text" and self.text is None:
            raise ValueError("a text part needs text")
        if self.type == "image_url" and self.image_url is None:
            raise ValueError("an image_url part needs image_url")
        return self

    def to_domain(self) -> ContentPart:
        if self.image_url is not None:
            return ImagePart(self.image_url.url, self.image_url.detail)
        return TextPart(self.text or "")


def parts_to_domain(parts: list[ContentPartIn] | None) -> tuple[ContentPart, ...]:
    return tuple(p.to_domain() for p in parts or ())


def parts_text(parts: tuple[ContentPart, ...]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


class ToolCallOut(BaseModel):
    """A tool call the model made: `arguments` is JSON text, as the model wrote it."""

    id: str = Field(examples=["call_8f2a"])
    name: str = Field(examples=["get_weather"])
    arguments: str = Field(examples=['{"city": "Paris"}'])

    @classmethod
    def of(cls, call: ToolCall) -> ToolCallOut:
        return cls(id=call.id, name=call.name, arguments=call.arguments)


class ToolResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool_call_id: str = Field(min_length=1, max_length=255)
    content: str
