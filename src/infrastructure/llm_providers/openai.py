"""OpenAI itself, the reference implementation of the chat-completions protocol.

Models and prices: https://openai.com/api/pricing/ (as of 2026-06-04).
"""

from __future__ import annotations

from src.domain.llm import ProviderSpec
from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class OpenAIProvider(OpenAICompatibleProvider):
    SPEC = ProviderSpec(
        name="openai",
        default_model="gpt-5.4-mini",
        models=("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano"),
        key_variable="OPENAI_API_KEY",
    )
    BASE_URL_VARIABLE = "OPENAI_BASE_URL"
    DEFAULT_BASE_URL = "https://api.openai.com/v1"
    # The GPT-5 family are reasoning models: they reject ``max_tokens`` with a 400 and take
    # ``max_completion_tokens`` (which also bounds the hidden reasoning tokens).
    USES_MAX_COMPLETION_TOKENS = True
