"""Moonshot's Kimi, over its OpenAI-compatible endpoint.

Its spec (models, key variable and alias) is registered in ``registry``.
"""

from __future__ import annotations

from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class KimiProvider(OpenAICompatibleProvider):
    DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
    # Kimi K2 thinking models expect each earlier assistant message to keep its
    # ``reasoning_content`` in the context; dropping it degrades multi-turn reasoning.
    SEND_REASONING_BACK = True
