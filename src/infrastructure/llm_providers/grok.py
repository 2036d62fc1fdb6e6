"""xAI's Grok, over its OpenAI-compatible endpoint.

Models and prices: https://docs.x.ai/docs/models (as of 2026-05-19). The slugs retired on
2026-05-15 (grok-3, grok-4-0709, grok-4-fast-*, grok-code-fast-1...) still resolve but are
served and billed as grok-4.3, so only grok-4.3 is listed.
"""

from __future__ import annotations

from src.domain.llm import ProviderSpec
from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class GrokProvider(OpenAICompatibleProvider):
    SPEC = ProviderSpec(
        name="grok",
        default_model="grok-4.3",
        models=("grok-4.3",),
        key_variable="GROK_API_KEY",
        key_aliases=("XAI_API_KEY",),
    )
    BASE_URL_VARIABLE = "GROK_BASE_URL"
    DEFAULT_BASE_URL = "https://api.x.ai/v1"
    # xAI counts reasoning tokens outside ``completion_tokens`` (total = prompt + completion
    # + reasoning) although they are billed as output; see usage_from_openai.
    REASONING_IN_COMPLETION_TOKENS = False
