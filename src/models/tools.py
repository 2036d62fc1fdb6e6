"""OpenAI's function-tool form, the one shape tools take on every endpoint.

``[{"type": "function", "function": {"name", "description", "parameters", "strict"}}]``, as
agent presets store it and as ``agent_config.tools`` sends it; each entry maps to the
domain's :class:`~src.domain.llm.ToolDefinition`, which each adapter translates for its
provider.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from src.domain.llm import ToolDefinition

WEATHER_TOOL_EXAMPLE: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # OpenAI's rule for function names, which every provider we map to accepts.
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["get_weather"])
    description: str | None = Field(None, max_length=1024)
    parameters: dict[str, Any] | None = Field(
        None, description="A JSON Schema object describing the arguments."
    )
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _an_object_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type", "object") != "object":
            raise ValueError('the arguments schema must have "type": "object"')
        return value


class FunctionTool(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [WEATHER_TOOL_EXAMPLE]}
    )

    type: Literal["function"] = "function"
    function: FunctionSpec

    def to_domain(self) -> ToolDefinition:
        spec = self.function
        return ToolDefinition(spec.name, spec.description, spec.parameters, spec.strict)

    @classmethod
    def of(cls, tool: ToolDefinition) -> FunctionTool:
        spec = FunctionSpec(
            name=tool.name,
            description=tool.description,
            parameters=None if tool.parameters is None else dict(tool.parameters),
            strict=tool.strict,
        )
        return cls(function=spec)


def _distinct_names(tools: list[FunctionTool]) -> list[FunctionTool]:
    """A model could not tell two functions of one name apart."""
    names = [t.function.name for t in tools]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"tool names must be distinct; repeated: {', '.join(repeated)}")
    return tools


ToolList = Annotated[list[FunctionTool], Field(max_length=128), AfterValidator(_distinct_names)]
