"""Targets read the same wherever a request names one."""

from __future__ import annotations

import pytest

from src.domain.targets import parse_target

PROVIDERS = {"openai", "anthropic", "ollama"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anthropic:claude-sonnet-5-5", ("anthropic", "claude-sonnet-5-5")),
        ("anthropic/claude-sonnet-5-5", ("anthropic", "claude-sonnet-5-5")),
        (" openai : gpt-5.4 ", ("openai", "gpt-5.4")),
        ("openai", ("openai", None)),
        ("openai:", ("openai", None)),
        ("ollama:llama3.2:latest", ("ollama", "llama3.2:latest")),
        ("ollama/library/llama3.2", ("ollama", "library/llama3.2")),
        ("claude-sonnet-5-5", (None, "claude-sonnet-5-5")),
        ("llama3.2:latest", (None, "llama3.2:latest")),
        ("meta-llama/Llama-3.3-70B", (None, "meta-llama/Llama-3.3-70B")),
        ("", (None, None)),
    ],
)
def test_provider_and_model_are_read_from_every_spelling(
    text: str, expected: tuple[str | None, str | None]
) -> None:
    assert parse_target(text, PROVIDERS) == expected
