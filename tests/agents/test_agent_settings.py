"""How a turn's ``agent_config`` lays over a preset: the pure merge and the command it makes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from src.api.routes.orchestrate import turn_command
from src.domain.agents import AgentSettings
from src.domain.llm import ToolDefinition
from src.domain.turns import Target
from src.models.orchestrate import OrchestrateRequest

TOOL = ToolDefinition("lookup_order", "Finds an order.", {"type": "object"})
PRESET = AgentSettings(
    provider="anthropic",
    model="claude-sonnet-5-5",
    system_prompt="You are the support agent.",
    temperature=0.3,
    max_tokens=800,
    tools=(TOOL,),
    fallbacks=("openai:gpt-5.4-mini",),
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (AgentSettings(), PRESET),
        (
            AgentSettings(temperature=0.9, system_prompt="Be terse."),
            replace(PRESET, temperature=0.9, system_prompt="Be terse."),
        ),
        (AgentSettings(max_tokens=5, tools=()), replace(PRESET, max_tokens=5, tools=())),
        (AgentSettings(fallbacks=()), replace(PRESET, fallbacks=())),
        # Provider and model are one target: naming either drops the preset's other half.
        (AgentSettings(model="gpt-5.4"), replace(PRESET, provider=None, model="gpt-5.4")),
        (AgentSettings(provider="openai"), replace(PRESET, provider="openai", model=None)),
        (
            AgentSettings(provider="openai", model="gpt-5.4"),
            replace(PRESET, provider="openai", model="gpt-5.4"),
        ),
    ],
)
def test_given_fields_replace_the_presets_and_the_rest_stay(
    overrides: AgentSettings, expected: AgentSettings
) -> None:
    assert PRESET.with_overrides(overrides) == expected


def test_without_a_preset_the_command_is_the_request_alone() -> None:
    body = OrchestrateRequest.model_validate(
        {"message": "hi", "agent_config": {"provider": "openai", "fallbacks": ["gemini"]}}
    )
    command = turn_command(body, None, ["openai", "gemini"])
    assert command.target == Target("openai", None)
    assert command.fallbacks == (Target("gemini", None),)
    assert command.tools == () and command.temperature is None


def test_the_command_takes_the_preset_where_the_request_is_silent() -> None:
    body = OrchestrateRequest.model_validate(
        {"message": "hi", "agent_config": {"agent": "support-bot", "temperature": None}}
    )
    command = turn_command(body, "key-1", ["openai", "anthropic"], PRESET)
    assert command.target == Target("anthropic", "claude-sonnet-5-5")
    assert command.temperature == 0.3  # null is not given
    assert command.system_prompt == "You are the support agent."
    assert command.max_tokens == 800
    assert command.tools == (TOOL,)
    assert command.fallbacks == (Target("openai", "gpt-5.4-mini"),)
    assert command.idempotency_key == "key-1"


def test_an_explicit_empty_fallback_list_clears_the_presets() -> None:
    body = OrchestrateRequest.model_validate(
        {"message": "hi", "agent_config": {"agent": "support-bot", "fallbacks": []}}
    )
    assert turn_command(body, None, ["openai"], PRESET).fallbacks == ()


def test_the_preset_is_part_of_the_idempotency_fingerprint() -> None:
    body = OrchestrateRequest.model_validate({"message": "hi", "agent_config": {"agent": "a"}})
    with_tools = turn_command(body, "k", (), PRESET)
    without = turn_command(body, "k", (), replace(PRESET, tools=()))
    assert with_tools.fingerprint() != without.fingerprint()
