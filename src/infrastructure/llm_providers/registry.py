"""The one place providers are registered, and the directory the domain looks them up in.

Each entry of ``PROVIDER_ADAPTERS`` says what a provider is without importing its SDK: its
``ProviderSpec`` (name, models, default model, key variable and aliases), its base URL
variable, and where its adapter class lives (``"module:Class"``). The SDKs are heavy (anthropic
alone takes 1.6 s and tens of MB to import), so an adapter module, and with it its SDK, is
imported only when that provider is configured; ``describe`` and ``get`` of an unconfigured
provider answer from the entry alone. The adapter is handed its spec, with the default model
already resolved, when it is built, so the entry is the only place a provider's facts are
written. Adding a provider means one adapter module and one entry here.

``build_provider_registry`` reads each provider's key (its variable, then its aliases), base
URL and ``<NAME>_DEFAULT_MODEL`` from the mapping the composition root hands down, builds
each configured adapter once (its SDK client is long-lived) and wraps it in retries and its
own circuit breaker. A provider without a key is listed but not configured; a keyless one
(``key_variable=None``, a local runtime) is configured by its base URL.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from src.domain.errors import InvalidInput, ProviderNotConfigured
from src.domain.llm import LLMProvider, ProviderSpec
from src.infrastructure.llm_providers.base import ProviderAdapter, ProviderConfig
from src.infrastructure.llm_providers.resilience import CircuitBreaker, ResilientProvider


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """One provider as registered, before anything of its SDK is imported.

    The names are upper case because an entry is a constant, stating what each adapter class
    once stated about itself (``SPEC``, ``BASE_URL_VARIABLE``, ``KEYLESS``).
    """

    #: ``"package.module:ClassName"`` of the ``ProviderAdapter`` subclass.
    ADAPTER: str
    SPEC: ProviderSpec
    BASE_URL_VARIABLE: str

    @property
    def KEYLESS(self) -> bool:
        """Configured without a key (local runtimes): then the base URL variable must be set."""
        return self.SPEC.key_variable is None

    def load(self) -> type[ProviderAdapter]:
        """The adapter class, importing its module (and so its SDK) now."""
        module_name, _, class_name = self.ADAPTER.partition(":")
        adapter = getattr(importlib.import_module(module_name), class_name, None)
        if not (isinstance(adapter, type) and issubclass(adapter, ProviderAdapter)):
            raise TypeError(f"{self.ADAPTER} does not name a ProviderAdapter subclass")
        return adapter


_PACKAGE = "src.infrastructure.llm_providers"

PROVIDER_ADAPTERS: tuple[ProviderEntry, ...] = (
    # Models and prices: https://openai.com/api/pricing/ (as of 2026-06-04).
    ProviderEntry(
        f"{_PACKAGE}.openai:OpenAIProvider",
        SPEC=ProviderSpec(
            name="openai",
            default_model="gpt-5.4-mini",
            models=("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano"),
            key_variable="OPENAI_API_KEY",
        ),
        BASE_URL_VARIABLE="OPENAI_BASE_URL",
    ),
    ProviderEntry(
        f"{_PACKAGE}.anthropic:AnthropicProvider",
        SPEC=ProviderSpec(
            name="anthropic",
            default_model="claude-sonnet-5-5",
            models=(
                "claude-sonnet-5-5",
                "claude-opus-5-5",
                "claude-haiku-5-5",
                "claude-fable-5-2",
            ),
            key_variable="ANTHROPIC_API_KEY",
        ),
        BASE_URL_VARIABLE="ANTHROPIC_BASE_URL",
    ),
    ProviderEntry(
        f"{_PACKAGE}.gemini:GeminiProvider",
        SPEC=ProviderSpec(
            name="gemini",
            default_model="gemini-3.8-flash",
            models=("gemini-3.8-flash", "gemini-4-argon", "gemini-3.1-flash-lite"),
            key_variable="GEMINI_API_KEY",
            key_aliases=("GOOGLE_API_KEY",),
        ),
        BASE_URL_VARIABLE="GEMINI_BASE_URL",
    ),
    ProviderEntry(
        f"{_PACKAGE}.mistral:MistralProvider",
        SPEC=ProviderSpec(
            name="mistral",
            default_model="mistral-small-2603",
            models=(
                "mistral-large-2512",
                "mistral-medium-2508",
                "mistral-small-2603",
                "magistral-medium-2509",
                "magistral-small-2509",
                "ministral-14b-2512",
                "ministral-8b-2512",
                "ministral-3b-2512",
                "codestral-2508",
                "devstral-2512",
            ),
            key_variable="MISTRAL_API_KEY",
        ),
        BASE_URL_VARIABLE="MISTRAL_BASE_URL",
    ),
    # Models and prices: https://docs.x.ai/docs/models (as of 2026-05-19). The slugs retired
    # on 2026-05-15 (grok-3, grok-4-0709, grok-4-fast-*, grok-code-fast-1...) still resolve
    # but are served and billed as grok-4.3, so only grok-4.3 is listed.
    ProviderEntry(
        f"{_PACKAGE}.grok:GrokProvider",
        SPEC=ProviderSpec(
            name="grok",
            default_model="grok-4.3",
            models=("grok-4.3",),
            key_variable="GROK_API_KEY",
            key_aliases=("XAI_API_KEY",),
        ),
        BASE_URL_VARIABLE="GROK_BASE_URL",
    ),
    ProviderEntry(
        f"{_PACKAGE}.qwen:QwenProvider",
        SPEC=ProviderSpec(
            name="qwen",
            default_model="qwen-plus",
            models=("qwen-max", "qwen-plus", "qwen-flash", "qwen-turbo"),
            key_variable="QWEN_API_KEY",
            key_aliases=("DASHSCOPE_API_KEY",),
        ),
        BASE_URL_VARIABLE="QWEN_BASE_URL",
    ),
    # Models and prices: https://api-docs.deepseek.com/quick_start/pricing (as of
    # 2026-10-27). ``deepseek-flash`` is DeepSeek-V4.1-Flash; the legacy names
    # deepseek-v4-flash, deepseek-chat and deepseek-reasoner are still accepted and billed as
    # Flash.
    ProviderEntry(
        f"{_PACKAGE}.deepseek:DeepSeekProvider",
        SPEC=ProviderSpec(
            name="deepseek",
            default_model="deepseek-flash",
            models=("deepseek-flash", "deepseek-v4-pro", "deepseek-v4-flash"),
            key_variable="DEEPSEEK_API_KEY",
        ),
        BASE_URL_VARIABLE="DEEPSEEK_BASE_URL",
    ),
    # Models and prices: https://platform.moonshot.ai/docs/pricing/chat (as of 2026-05); the
    # kimi-k2-*-preview, kimi-k2-thinking* and kimi-latest ids were discontinued in 2026.
    ProviderEntry(
        f"{_PACKAGE}.kimi:KimiProvider",
        SPEC=ProviderSpec(
            name="kimi",
            default_model="kimi-k2.6",
            models=("kimi-k2.6", "kimi-k2.5"),
            key_variable="KIMI_K2_API_KEY",
            key_aliases=("MOONSHOT_API_KEY",),
        ),
        BASE_URL_VARIABLE="KIMI_BASE_URL",
    ),
    # Keyless: configured only when OLLAMA_BASE_URL is set, and its models cost nothing
    # (``prices/ollama.json`` says ``free``). Any pulled model name is passed through; the
    # list names common ones (https://ollama.com/library).
    ProviderEntry(
        f"{_PACKAGE}.ollama:OllamaProvider",
        SPEC=ProviderSpec(
            name="ollama",
            default_model="llama3.2",
            models=("llama3.2", "qwen3", "gemma3", "mistral"),
            key_variable=None,
        ),
        BASE_URL_VARIABLE="OLLAMA_BASE_URL",
    ),
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
    """Every registered provider, configured from ``env`` (never from ``os.environ``).

    Only the configured providers' adapter modules are imported.
    """
    entries = []
    for entry in PROVIDER_ADAPTERS:
        spec = entry.SPEC
        if default_model := _setting(env, _default_model_variable(spec)):
            spec = replace(spec, default_model=default_model)
        key = next(filter(None, (_setting(env, v) for v in _key_variables(spec))), None)
        base_url = _setting(env, entry.BASE_URL_VARIABLE)
        required = entry.BASE_URL_VARIABLE if entry.KEYLESS else spec.key_variable
        configured = base_url is not None if entry.KEYLESS else key is not None
        provider = None
        if configured:
            config = ProviderConfig(api_key=key, base_url=base_url, timeout_s=timeout_s)
            provider = ResilientProvider(
                entry.load()(spec, config),
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
    for entry in PROVIDER_ADAPTERS:
        names.extend(_key_variables(entry.SPEC))
        names.append(entry.BASE_URL_VARIABLE)
        names.append(_default_model_variable(entry.SPEC))
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
