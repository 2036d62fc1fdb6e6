"""`.env.example` lists every variable the service reads, and nothing it does not."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from src.infrastructure.llm_providers.registry import provider_variables
from src.infrastructure.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_env_example_lists_every_setting_and_provider_variable() -> None:
    listed = set(dotenv_values(ENV_EXAMPLE))
    settings = {name.upper() for name in Settings.model_fields}
    providers = set(provider_variables())
    # Aliases are documented as comments beside their main variable.
    aliases = {
        v
        for v in providers
        if v in {"GOOGLE_API_KEY", "XAI_API_KEY", "DASHSCOPE_API_KEY", "MOONSHOT_API_KEY"}
    }
    assert settings - listed == set()
    assert (providers - aliases) - listed == set()
    assert listed - settings - providers == set()
