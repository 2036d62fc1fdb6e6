"""A local Ollama runtime, over its OpenAI-compatible ``/v1`` endpoint.

Needs no key: its spec names no key variable, so the registry configures it only when
``OLLAMA_BASE_URL`` is set, and ``OpenAICompatibleProvider`` sends a placeholder key.
"""

from __future__ import annotations

from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class OllamaProvider(OpenAICompatibleProvider):
    DEFAULT_BASE_URL = "http://localhost:11434/v1"
