"""Moonshot's Kimi, over its OpenAI-compatible endpoint.

Models and prices: https://platform.moonshot.ai/docs/pricing/chat (as of 2026-05); the
kimi-k2-*-preview, kimi-k2-thinking* and kimi-latest ids were discontinued in 2026.
"""

from __future__ import annotations

from src.domain.llm import ProviderSpec
from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class KimiProvider(OpenAICompatibleProvider):
    SPEC = ProviderSpec(
        name="kimi",
        default_model="kimi-k2.6",
        models=("kimi-k2.6", "kimi-k2.5"),
        key_variable="KIMI_K2_API_KEY",
        key_aliases=("MOONSHOT_API_KEY",),
    )
    BASE_URL_VARIABLE = "KIMI_BASE_URL"
    DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
    # Kimi K2 thinking models expect each earlier assistant message to keep its
    # ``reasoning_content`` in the context; dropping it degrades multi-turn reasoning.
    SEND_REASONING_BACK = True
