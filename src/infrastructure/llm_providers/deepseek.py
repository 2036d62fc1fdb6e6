"""DeepSeek, over its OpenAI-compatible endpoint.

Models and prices: https://api-docs.deepseek.com/quick_start/pricing (as of 2026-10-27).
``deepseek-flash`` is DeepSeek-V4.1-Flash; the legacy names deepseek-v4-flash,
deepseek-chat and deepseek-reasoner are still accepted and billed as Flash.
"""

from __future__ import annotations

from src.domain.llm import ProviderSpec
from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class DeepSeekProvider(OpenAICompatibleProvider):
    SPEC = ProviderSpec(
        name="deepseek",
        default_model="deepseek-flash",
        models=("deepseek-flash", "deepseek-v4-pro", "deepseek-v4-flash"),
        key_variable="DEEPSEEK_API_KEY",
    )
    BASE_URL_VARIABLE = "DEEPSEEK_BASE_URL"
    DEFAULT_BASE_URL = "https://api.deepseek.com"
    # Thinking mode returns ``reasoning_content`` beside ``content``. Between two user
    # messages without a tool call, DeepSeek does not concatenate the previous turns' CoT
    # into the context (https://api-docs.deepseek.com/guides/thinking_mode); the original
    # deepseek-reasoner even answered 400 when it was sent back. The gateway makes no tool
    # calls, so it is never sent back.
    SEND_REASONING_BACK = False
