"""The one place providers are registered, and the directory the domain looks them up in.

``build_provider_registry`` reads each adapter's key (its variable, then its aliases), base
URL and ``<NAME>_DEFAULT_MODEL`` from the mapping the composition root hands down, builds
each configured adapter once (its SDK client is long-lived) and wraps it in retries and its
own circuit breaker. A provider without a key is listed but not configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from src.domain.errors import InvalidInput, ProviderNotConfigured
from src.domain.llm import LLMProvider, ProviderSpec
from src.infrastructure.llm_providers.anthropic import AnthropicProvider
from src.infrastructure.llm_providers.base import ProviderAdapter, ProviderConfig
from src.infrastructure.llm_providers.deepseek import DeepSeekProvider
from src.infrastructure.llm_providers.gemini import GeminiProvider
from src.infrastructure.llm_providers.grok import GrokProvider
from src.infrastructure.llm_providers.kimi import KimiProvider
from src.infrastructure.llm_providers.mistral import MistralProvider
from src.infrastructure.llm_providers.ollama import OllamaProvider
from src.infrastructure.llm_providers.openai import OpenAIProvider
from src.infrastructure.llm_providers.qwen import QwenProvider
from src.infrastructure.llm_providers.resilience import CircuitBreaker, ResilientProvider

PROVIDER_ADAPTERS: tuple[type[ProviderAdapter], ...] = (
    OpenAIProvider,
    AnthropicProvider,
    GeminiProvider,
    MistralProvider,
    GrokProvider,
    QwenProvider,
    DeepSeekProvider,
    KimiProvider,
    OllamaProvider,
)


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """What /api/providers and /api/health report about one provider."""

    name: str
    models: tuple[str, ...]
    default_model: str
    is_configured: bool
    is_healthy: bool
    capabilities: tuple[str, ...]
    key_variable: str | None


@dataclass(frozen=True, slots=True)
class RegisteredProvider:
    """A provider as registered: its spec, and its adapter when it is configured.

    ``required_variable`` is what to set to configure it (the key, or for a keyless runtime
    its base URL).
    """

    spec: ProviderSpec
    required_variable: str
    provider: ResilientProvider | None = None


class ProviderRegistry:
    """Finds the configured provider for a name (the domain's ``ProviderDirectory``)."""

    def __init__(self, entries: Iterable[RegisteredProvider], *, default_provider: str) -> None:
        self._entries = {entry.spec.name: entry for entry in entries}
        self._default = default_provider
        self._entry(default_provider)

    @property
    def default_provider(self) -> str:
        return self._default

    def get(self, name: str) -> LLMProvider:
        entry = self._entry(name)
        if entry.provider is None:
            raise ProviderNotConfigured(name, entry.required_variable)
        return entry.provider

    def require_known(self, name: str) -> None:
        """Raises ``InvalidInput`` naming the valid providers when ``name`` is not one."""
        self._entry(name)

    def describe(self) -> list[ProviderStatus]:
        """Every registered provider, from configuration and recent outcomes only."""
        return [
            ProviderStatus(
                name=entry.spec.name,
                models=entry.spec.models,
                default_model=entry.spec.default_model,
                is_configured=entry.provider is not None,
                is_healthy=entry.provider is not None and entry.provider.is_healthy,
                capabilities=entry.spec.capabilities,
                key_variable=entry.spec.key_variable,
            )
            for entry in self._entries.values()
        ]

    async def aclose(self) -> None:
        for entry in self._entries.values():
            if entry.provider is not None:
                await entry.provider.aclose()

    def _entry(self, name: str) -> RegisteredProvider:
        entry = self._entries.get(name)
        if entry is None:
            valid = ", ".join(sorted(self._entries))
            raise InvalidInput(
                f"unknown provider {name!r}; valid providers: {valid}",
                details={"provider": name, "valid_providers": sorted(self._entries)},
            )
        return entry


def build_provider_registry(
    env: Mapping[str, str],
    *,
    default_provider: str = "openai",
    timeout_s: float = 60.0,
    max_retries: int = 2,
    retry_after_cap_s: float = 30.0,
    retry_base_delay_s: float = 0.5,
    breaker_threshold: int = 5,
    breaker_cooldown_s: float = 30.0,
) -> ProviderRegistry:
    """Every registered adapter, configured from ``env`` (never from ``os.environ``)."""
    entries = []
    for adapter in PROVIDER_ADAPTERS:
        spec = adapter.SPEC
        default_model = _setting(env, _default_model_variable(spec))
        if default_model:
            spec = replace(spec, default_model=default_model)
        key = next(filter(None, (_setting(env, v) for v in _key_variables(spec))), None)
        base_url = _setting(env, adapter.BASE_URL_VARIABLE)
        required = adapter.BASE_URL_VARIABLE if adapter.KEYLESS else spec.key_variable
        configured = base_url is not None if adapter.KEYLESS else key is not None
        provider = None
        if configured:
            config = ProviderConfig(
                api_key=key, base_url=base_url, timeout_s=timeout_s, default_model=default_model
            )
            provider = ResilientProvider(
                adapter(config),
                max_retries=max_retries,
                retry_after_cap_s=retry_after_cap_s,
                base_delay_s=retry_base_delay_s,
                breaker=CircuitBreaker(breaker_threshold, breaker_cooldown_s),
            )
        entries.append(RegisteredProvider(spec, required or "its API key", provider))
    return ProviderRegistry(entries, default_provider=default_provider)


def provider_variables() -> list[str]:
    """Every environment variable the registry reads, for ``.env.example``."""
    names: list[str] = []
    for adapter in PROVIDER_ADAPTERS:
        names.extend(_key_variables(adapter.SPEC))
        names.append(adapter.BASE_URL_VARIABLE)
        names.append(_default_model_variable(adapter.SPEC))
    return names


def _key_variables(spec: ProviderSpec) -> tuple[str, ...]:
    primary = (spec.key_variable,) if spec.key_variable else ()
    return primary + spec.key_aliases


def _default_model_variable(spec: ProviderSpec) -> str:
    return f"{spec.name.upper()}_DEFAULT_MODEL"


def _setting(env: Mapping[str, str], name: str) -> str | None:
    """A variable's value; set but blank (``KEY=`` in .env) counts as unset."""
    value = env.get(name, "").strip()
    return value or None
