"""OpenAI itself, the reference implementation of the chat-completions protocol.

Its spec (models, key variable) is registered in ``registry``.
"""

from __future__ import annotations

from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class OpenAIProvider(OpenAICompatibleProvider):
    DEFAULT_BASE_URL = "https://api.openai.com/v1"
    # The GPT-5 family are reasoning models: they reject ``max_tokens`` with a 400 and take
    # ``max_completion_tokens`` (which also bounds the hidden reasoning tokens).
    USES_MAX_COMPLETION_TOKENS = True
