"""DeepSeek, over its OpenAI-compatible endpoint.

Its spec (models, key variable) is registered in ``registry``.
"""

from __future__ import annotations

from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class DeepSeekProvider(OpenAICompatibleProvider):
    DEFAULT_BASE_URL = "https://api.deepseek.com"
    # Thinking mode returns ``reasoning_content`` beside ``content``. Between two user
    # messages without a tool call, DeepSeek does not concatenate the previous turns' CoT
    # into the context (https://api-docs.deepseek.com/guides/thinking_mode), and the original
    # deepseek-reasoner answered 400 when it was sent back; within a tool exchange the
    # answer that called the tools must carry its ``reasoning_content`` back.
    SEND_REASONING_BACK = False
    SEND_REASONING_WITH_TOOL_CALLS = True
