"""Contracts of ``/api/agents`` (stored agent presets), and how ``agent_config`` overrides one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from src.domain.agents import AgentPreset, AgentSettings
from src.domain.llm import ToolDefinition
from src.models.orchestrate import AgentConfig, well_formed_targets
from src.models.tools import FunctionSpec, FunctionTool

AGENT_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


def _distinct_names(tools: list[FunctionTool]) -> list[FunctionTool]:
    """A model could not tell two functions of one name apart."""
    names = [t.function.name for t in tools]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"tool names must be distinct; repeated: {', '.join(repeated)}")
    return tools


ToolList = Annotated[list[FunctionTool], Field(max_length=128), AfterValidator(_distinct_names)]
AgentName = Annotated[
    str,
    Field(
        pattern=AGENT_NAME_PATTERN,
        description="1-64 letters, digits, `-`, `_` or `.`; unique within the tenant.",
        examples=["support-bot"],
    ),
]

_WEATHER_TOOL: dict[str, Any] = {
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
_SUPPORT_BOT: dict[str, Any] = {
    "provider": "anthropic",
    "model": "claude-sonnet-5-5",
    "system_prompt": "You are the support agent of Example Ltd. Answer briefly.",
    "temperature": 0.3,
    "max_tokens": 800,
    "tools": [_WEATHER_TOOL],
    "fallbacks": ["openai:gpt-5.4-mini"],
}


class AgentFields(BaseModel):
    """What a preset sets; anything left out (null) is the turn's usual default."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SUPPORT_BOT]})

    provider: str | None = Field(None, description="Provider name; default: DEFAULT_PROVIDER.")
    model: str | None = Field(None, description="Model name; default: the provider's default.")
    system_prompt: str | None = Field(None, description="Overrides the session's system prompt.")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    tools: ToolList = Field(default_factory=list)
    fallbacks: Annotated[list[str], AfterValidator(well_formed_targets)] = Field(
        default_factory=list,
        max_length=8,
        description="`provider` or `provider:model`, tried in order when the provider fails "
        "with 502, 503 or 504.",
    )

    def settings(self) -> AgentSettings:
        return AgentSettings(
            provider=self.provider,
            model=self.model,
            system_prompt=self.system_prompt,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            tools=tuple(t.to_domain() for t in self.tools),
            fallbacks=tuple(self.fallbacks),
        )


class CreateAgentRequest(AgentFields):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "support-bot", **_SUPPORT_BOT}]}
    )

    name: AgentName


class ReplaceAgentRequest(AgentFields):
    """The whole preset again: what it leaves out is unset, not kept."""

    name: AgentName | None = Field(None, description="If given, the name in the path.")


class AgentResponse(AgentFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "support-bot",
                    **_SUPPORT_BOT,
                    "created_at": "2026-06-04T10:00:00Z",
                    "updated_at": "2026-06-04T10:00:00Z",
                }
            ]
        }
    )

    name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, preset: AgentPreset) -> AgentResponse:
        settings = preset.settings
        return cls(
            name=preset.name,
            provider=settings.provider,
            model=settings.model,
            system_prompt=settings.system_prompt,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            tools=[_function_tool(t) for t in settings.tools or ()],
            fallbacks=list(settings.fallbacks or ()),
            created_at=preset.created_at,
            updated_at=preset.updated_at,
        )


class AgentList(BaseModel):
    agents: list[AgentResponse]


def _function_tool(tool: ToolDefinition) -> FunctionTool:
    parameters = None if tool.parameters is None else dict(tool.parameters)
    spec = FunctionSpec(
        name=tool.name, description=tool.description, parameters=parameters, strict=tool.strict
    )
    return FunctionTool(type="function", function=spec)


def overrides_of(config: AgentConfig) -> AgentSettings:
    """What a turn's ``agent_config`` sets, to lay over a preset: the fields it gives (null
    is not given; an explicit empty ``tools`` or ``fallbacks`` is, and clears the preset's)."""
    given = config.model_fields_set
    return AgentSettings(
        provider=config.provider,
        model=config.model,
        system_prompt=config.system_prompt,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        tools=None if config.tools is None else tuple(t.to_domain() for t in config.tools),
        fallbacks=tuple(config.fallbacks) if "fallbacks" in given else None,
    )
