"""The one place providers are registered, and the directory the domain looks them up in.

``providers.toml`` beside this module lists the providers; each entry of ``PROVIDER_ADAPTERS``,
read from it, says what a provider is without importing its SDK: its
``ProviderSpec`` (name, models, default model, key variable and aliases), its base URL
variable, and where its adapter class lives (``"module:Class"``). The SDKs are heavy (anthropic
alone takes 1.6 s and tens of MB to import), so an adapter module, and with it its SDK, is
imported only when that provider is first called (``LazyProvider``): a service configured
for all eight is ready as fast, and stays as small, as one configured for the one it uses;
``describe``, ``get`` and ``resolve`` answer from the entries alone. The adapter is handed
its spec, with the default model already resolved, when it is built, so the entry is the only
place a provider's facts are written. Adding a provider means one adapter module and one
entry in ``providers.toml``.

``build_provider_registry`` reads each provider's key (its variable, then its aliases), base
URL and ``<NAME>_DEFAULT_MODEL`` from the mapping the composition root hands down, builds
each configured adapter once (its SDK client is long-lived) and wraps it in retries and its
own circuit breaker. A provider without a key is listed but not configured; a keyless one
(``key_variable=None``, a local runtime) is configured by its base URL.
"""

from __future__ import annotations

import asyncio
import importlib
import tomllib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from typing import Any, Final

from src.domain.errors import InvalidInput, ProviderNotConfigured, ProviderUnavailable
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    LLMProvider,
    ProviderSpec,
    StreamEvent,
    close_stream,
)
from src.domain.ports import PriceBook
from src.infrastructure import collector
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

    def load(self) -> type[ProviderAdapter[Any, Any]]:
        """The adapter class, importing its module (and so its SDK) now."""
        module_name, _, class_name = self.ADAPTER.partition(":")
        adapter = getattr(importlib.import_module(module_name), class_name, None)
        if not (isinstance(adapter, type) and issubclass(adapter, ProviderAdapter)):
            raise TypeError(f"{self.ADAPTER} does not name a ProviderAdapter subclass")
        return adapter


_PACKAGE = "src.infrastructure.llm_providers"


class LazyProvider:
    """A configured provider whose adapter (and SDK) is imported and built at its first call.

    The import runs in a worker thread, once, so the event loop goes on serving other turns
    meanwhile (an SDK takes up to a second or two to import); later calls go straight to the
    built provider. What the import made is then frozen out of the garbage collector's
    generations (``collector``), as what start-up made is.

    The import is the gateway's own work, not the provider's, so it comes before what
    ``resilient`` wraps the adapter in: the call's deadline and its circuit breaker measure
    the provider alone (a first call with a deadline shorter than the import used to fail as
    a provider time-out, counted against the provider, the provider never asked). And it runs
    in a task of its own: a caller that gives up meanwhile (its client gone) does not undo it.
    A load that fails is tried again by the next call. Closing does not wait for a load
    under way (an import can take a second, which shutdown would spend waiting): the client
    that load builds is closed as soon as it is built, and the calls that waited for it are
    refused as the provider's being unavailable, never sent.
    """

    def __init__(
        self,
        entry: ProviderEntry,
        spec: ProviderSpec,
        config: ProviderConfig,
        resilient: Callable[[LLMProvider], ResilientProvider],
    ) -> None:
        self._entry = entry
        self._spec = spec
        self._config = config
        self._resilient = resilient
        self._provider: ResilientProvider | None = None
        self._loading: asyncio.Task[ResilientProvider] | None = None
        self._closed = False

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    @property
    def is_healthy(self) -> bool:
        """Healthy until its breaker, built at the first call, says otherwise."""
        return self._provider is None or self._provider.is_healthy

    async def _built(self) -> ResilientProvider:
        if self._provider is not None:
            return self._provider
        if self._loading is None:
            self._loading = asyncio.create_task(self._load())
        return await asyncio.shield(self._loading)

    async def _load(self) -> ResilientProvider:
        try:
            adapter_class = await asyncio.to_thread(self._entry.load)
            provider = self._resilient(adapter_class(self._spec, self._config))
        finally:
            self._loading = None
        collector.freeze_imports()  # the SDK lives as long as the process
        if self._closed:
            await provider.aclose()
            raise ProviderUnavailable(self._spec.name, "the gateway is shutting down")
        self._provider = provider
        return provider

    async def complete(self, request: ChatRequest) -> ChatResult:
        return await (await self._built()).complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        events = (await self._built()).stream(request)
        try:
            async for event in events:
                yield event
        finally:
            await close_stream(events)

    async def aclose(self) -> None:
        self._closed = True
        if self._provider is not None:
            await self._provider.aclose()


def _entries(table: Mapping[str, Mapping[str, Any]]) -> tuple[ProviderEntry, ...]:
    """The entries of ``providers.toml``, each field checked by ``ProviderSpec``'s types."""
    return tuple(
        ProviderEntry(
            f"{_PACKAGE}.{fields['adapter']}",
            SPEC=ProviderSpec(
                name=name,
                default_model=fields["default_model"],
                models=tuple(fields["models"]),
                key_variable=fields.get("key_variable"),
                key_aliases=tuple(fields.get("key_aliases", ())),
                capabilities=("chat", "streaming", *fields.get("capabilities", ())),
                options=frozenset(fields.get("options", ())),
            ),
            BASE_URL_VARIABLE=f"{name.upper()}_BASE_URL",
        )
        for name, fields in table.items()
    )


PROVIDER_ADAPTERS: Final = _entries(
    tomllib.loads(resources.files(_PACKAGE).joinpath("providers.toml").read_text("utf-8"))
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
    provider: LazyProvider | None = None


class ProviderRegistry:
    """Finds the configured provider for a name (the domain's ``ProviderDirectory``)."""

    def __init__(
        self,
        entries: Iterable[RegisteredProvider],
        *,
        default_provider: str,
        prices: PriceBook | None = None,
    ) -> None:
        self._entries = {entry.spec.name: entry for entry in entries}
        self.names: tuple[str, ...] = tuple(self._entries)
        self._default = default_provider
        self._prices = prices
        self._entry(default_provider)

    @property
    def default_provider(self) -> str:
        return self._default

    def get(self, name: str) -> LLMProvider:
        entry = self._entry(name)
        if entry.provider is None:
            raise ProviderNotConfigured(name, entry.required_variable)
        return entry.provider

    def resolve(self, provider: str | None, model: str | None) -> tuple[str, str]:
        """The provider and model that serve a target, without building or calling anything.

        A named provider serves its model, or its default one. A bare model name goes to the
        first provider (the default provider first, then in registry order) whose model list
        knows it, else whose prices know it; keyless local runtimes are left out of the price
        check, since their price file prices every model. A name nobody knows goes to the
        default provider, which may serve models newer than its list. Raises
        ``InvalidInput`` for an unknown provider name.
        """
        if provider is not None or model is None:
            spec = self._entry(provider or self._default).spec
            return spec.name, model or spec.default_model
        ordered = sorted(self._entries.values(), key=lambda e: e.spec.name != self._default)
        listed = (e for e in ordered if model in e.spec.models)
        priced = (e for e in ordered if e.spec.key_variable and self._priced(e.spec.name, model))
        found = next(listed, None) or next(priced, None)
        return (found.spec.name if found else self._default), model

    def _priced(self, provider: str, model: str) -> bool:
        """Whether the price book knows the model now (a model it prices at all)."""
        now = datetime.now(UTC)
        return self._prices is not None and self._prices.price_of(provider, model, now) is not None

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
    prices: PriceBook | None = None,
) -> ProviderRegistry:
    """Every registered provider, configured from ``env`` (never from ``os.environ``).

    Only the configured providers' adapter modules are imported. ``prices`` lets ``resolve``
    route a bare model name that only the price book knows.
    """
    secrets = tuple(
        value
        for entry in PROVIDER_ADAPTERS
        for variable in _key_variables(entry.SPEC)
        if (value := _setting(env, variable))
    )
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
            config = ProviderConfig(
                api_key=key, base_url=base_url, timeout_s=timeout_s, masked_secrets=secrets
            )
            resilient = partial(
                ResilientProvider,
                max_retries=max_retries,
                retry_after_cap_s=retry_after_cap_s,
                base_delay_s=retry_base_delay_s,
                breaker=CircuitBreaker(breaker_threshold, breaker_cooldown_s),
                deadline_s=timeout_s,
            )
            provider = LazyProvider(entry, spec, config, resilient)
        entries.append(RegisteredProvider(spec, required or "its API key", provider))
    return ProviderRegistry(entries, default_provider=default_provider, prices=prices)


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
