"""A local Ollama runtime, over its OpenAI-compatible ``/v1`` endpoint.

Needs no key: it is configured only when ``OLLAMA_BASE_URL`` is set, and its models cost
nothing (``prices/ollama.json`` says ``free``). Any pulled model name is passed through;
the list below names common ones (https://ollama.com/library).
"""

from __future__ import annotations

from src.domain.llm import ProviderSpec
from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider


class OllamaProvider(OpenAICompatibleProvider):
    SPEC = ProviderSpec(
        name="ollama",
        default_model="llama3.2",
        models=("llama3.2", "qwen3", "gemma3", "mistral"),
        key_variable=None,
    )
    BASE_URL_VARIABLE = "OLLAMA_BASE_URL"
    DEFAULT_BASE_URL = "http://localhost:11434/v1"
    KEYLESS = True
