"""xAI's Grok, over its OpenAI-compatible endpoint.

Its spec (models, key variable and alias) is registered in ``registry``.
"""

from __future__ import annotations

from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class GrokProvider(OpenAICompatibleProvider):
    DEFAULT_BASE_URL = "https://api.x.ai/v1"
    # xAI counts reasoning tokens outside ``completion_tokens`` (total = prompt + completion
    # + reasoning) although they are billed as output; see usage_from_openai.
    REASONING_IN_COMPLETION_TOKENS = False
