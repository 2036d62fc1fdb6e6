"""The provider registry: configuration from a plain mapping, lookups, health listing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from src.domain.errors import (
    InvalidInput,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
)
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    LLMProvider,
    ProviderSpec,
    StreamEvent,
)
from src.domain.pricing import ModelPrice
from src.infrastructure.llm_providers.base import ProviderAdapter, ProviderConfig
from src.infrastructure.llm_providers.registry import (
    PROVIDER_ADAPTERS,
    LazyProvider,
    ProviderEntry,
    ProviderRegistry,
    ProviderStatus,
    build_provider_registry,
    provider_variables,
)
from src.infrastructure.llm_providers.resilience import ResilientProvider
from tests.fakes import openai_wire as wire
from tests.fakes.domain import FixedPrices
from tests.fakes.upstream import FakeUpstream
from tests.providers.registered import entry as registered_entry
from tests.providers.registered import spec_of

REQUEST = ChatRequest(model="m", messages=(ChatMessage("user", "hello"),))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _echo(fake: FakeUpstream) -> None:
    """Answers every call with the last user message."""
    fake.default = wire.echo


def statuses(registry: ProviderRegistry) -> dict[str, ProviderStatus]:
    return {s.name: s for s in registry.describe()}


async def test_a_provider_without_a_key_is_listed_but_not_configured() -> None:
    registry = build_provider_registry({})

    with pytest.raises(ProviderNotConfigured) as caught:
        registry.get("deepseek")

    assert "DEEPSEEK_API_KEY" in caught.value.message
    assert caught.value.details["variable"] == "DEEPSEEK_API_KEY"
    status = statuses(registry)["deepseek"]
    assert status.is_configured is False
    assert status.is_healthy is False
    assert status.key_variable == "DEEPSEEK_API_KEY"


async def test_unknown_name_is_invalid_input_naming_the_valid_ones() -> None:
    registry = build_provider_registry({})

    with pytest.raises(InvalidInput) as caught:
        registry.get("nope")

    for adapter in PROVIDER_ADAPTERS:
        assert adapter.SPEC.name in caught.value.message


async def test_an_unknown_default_provider_is_refused() -> None:
    with pytest.raises(InvalidInput):
        build_provider_registry({}, default_provider="nope")


@pytest.mark.parametrize(("name", "alias"), [("grok", "XAI_API_KEY"), ("kimi", "MOONSHOT_API_KEY")])
async def test_key_aliases_configure_the_provider(
    name: str, alias: str, fake: FakeUpstream
) -> None:
    base_url_variable = {"grok": "GROK_BASE_URL", "kimi": "KIMI_BASE_URL"}[name]
    registry = build_provider_registry({alias: "alias-key", base_url_variable: fake.url})
    try:
        result = await registry.get(name).complete(REQUEST)
    finally:
        await registry.aclose()

    assert result.text == "echo: hello"
    assert fake.last.headers["authorization"] == "Bearer alias-key"


async def test_the_primary_key_wins_over_its_alias(fake: FakeUpstream) -> None:
    env = {"GROK_API_KEY": "primary", "XAI_API_KEY": "alias", "GROK_BASE_URL": fake.url}
    registry = build_provider_registry(env)
    try:
        await registry.get("grok").complete(REQUEST)
    finally:
        await registry.aclose()

    assert fake.last.headers["authorization"] == "Bearer primary"


async def test_blank_values_count_as_unset() -> None:
    registry = build_provider_registry({"OPENAI_API_KEY": "  ", "OPENAI_DEFAULT_MODEL": ""})

    with pytest.raises(ProviderNotConfigured):
        registry.get("openai")
    assert statuses(registry)["openai"].default_model == "gpt-5.4-mini"


async def test_default_model_can_be_overridden() -> None:
    registry = build_provider_registry(
        {"OPENAI_API_KEY": "k", "OPENAI_DEFAULT_MODEL": "gpt-5.5", "KIMI_DEFAULT_MODEL": "x"}
    )
    try:
        assert registry.get("openai").spec.default_model == "gpt-5.5"
        assert statuses(registry)["kimi"].default_model == "x"
    finally:
        await registry.aclose()


async def test_ollama_is_configured_only_by_its_base_url(fake: FakeUpstream) -> None:
    without = build_provider_registry({"OPENAI_API_KEY": "k"})
    with pytest.raises(ProviderNotConfigured) as caught:
        without.get("ollama")
    assert "OLLAMA_BASE_URL" in caught.value.message
    await without.aclose()

    registry = build_provider_registry({"OLLAMA_BASE_URL": fake.url})
    try:
        result = await registry.get("ollama").complete(REQUEST)
    finally:
        await registry.aclose()
    assert result.text == "echo: hello"
    assert statuses(registry)["ollama"].is_configured


async def test_describe_reports_every_provider_with_health() -> None:
    registry = build_provider_registry({"OPENAI_API_KEY": "k"}, default_provider="openai")
    try:
        listed = registry.describe()
    finally:
        await registry.aclose()

    assert [s.name for s in listed] == [a.SPEC.name for a in PROVIDER_ADAPTERS]
    openai = listed[0]
    assert openai.is_configured and openai.is_healthy
    assert "gpt-5.4-mini" in openai.models
    assert "streaming" in openai.capabilities
    assert registry.default_provider == "openai"


async def test_providers_are_built_once_and_wrapped_with_retries(fake: FakeUpstream) -> None:
    env = {"DEEPSEEK_API_KEY": "k", "DEEPSEEK_BASE_URL": fake.url}
    registry = build_provider_registry(env, max_retries=1, retry_base_delay_s=0.001)
    fake.enqueue(wire.error_reply(503, "busy"))
    try:
        provider = registry.get("deepseek")
        assert registry.get("deepseek") is provider
        result = await provider.complete(REQUEST)
    finally:
        await registry.aclose()

    assert result.text == "echo: hello"
    assert len(fake.received) == 2


def test_provider_variables_lists_everything_read() -> None:
    names = provider_variables()

    for expected in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_DEFAULT_MODEL",
        "GROK_API_KEY",
        "XAI_API_KEY",
        "KIMI_K2_API_KEY",
        "MOONSHOT_API_KEY",
        "KIMI_BASE_URL",
        "DEEPSEEK_API_KEY",
        "OLLAMA_BASE_URL",
        "OLLAMA_DEFAULT_MODEL",
    ):
        assert expected in names
    assert len(names) == len(set(names))


#: Run in a fresh interpreter: which SDKs does a registry with OpenAI and Anthropic configured
#: import, once built, and once OpenAI alone was called (at a closed port: the call fails)?
#: And is the imported SDK then out of the garbage collector's generations (frozen)?
_ONLY_OPENAI = """
import asyncio, gc, json, sys
from src.domain.errors import ProviderError, ProviderNotConfigured
from src.domain.llm import ChatMessage, ChatRequest
from src.infrastructure.llm_providers.registry import build_provider_registry

env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "GEMINI_API_KEY": "k"}
registry = build_provider_registry(env, max_retries=0, timeout_s=2)
sdks = ("openai", "anthropic", "google.genai", "mistralai", "dashscope")
at_start = [sdk for sdk in sdks if sdk in sys.modules]
request = ChatRequest("gpt-5.4-mini", (ChatMessage("user", "hi"),))
try:
    asyncio.run(registry.get("openai").complete(request))
except ProviderError:
    pass
try:
    registry.get("anthropic")
except ProviderNotConfigured as error:
    not_configured = error.message
listed = {s.name: [s.default_model, list(s.models), s.is_configured] for s in registry.describe()}
client_class = sys.modules["openai"].AsyncOpenAI
print(json.dumps({
    "at_start": at_start,
    "imported": [sdk for sdk in sdks if sdk in sys.modules],
    "sdk_collected": any(o is client_class for o in gc.get_objects()),
    "listed": listed,
    "not_configured": not_configured,
}))
"""


def test_an_sdk_is_imported_only_when_its_provider_is_first_called() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _ONLY_OPENAI],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(run.stdout)

    assert seen["at_start"] == []
    assert seen["imported"] == ["openai"]
    assert seen["sdk_collected"] is False  # frozen: full collections do not traverse it
    assert list(seen["listed"]) == [entry.SPEC.name for entry in PROVIDER_ADAPTERS]
    assert seen["listed"]["anthropic"] == [
        "claude-sonnet-5-5",
        list(spec_of("anthropic").models),
        False,
    ]
    assert seen["listed"]["openai"][2] is True
    assert "ANTHROPIC_API_KEY" in seen["not_configured"]


class _GatedEntry:
    """DeepSeek's entry, whose import waits for ``gate`` (a slow SDK import) and fails while
    ``failures`` is left; ``loads`` counts the imports begun."""

    def __init__(self, gate: threading.Event, failures: int = 0) -> None:
        self.entry = registered_entry("deepseek")
        self.gate = gate
        self.failures = failures
        self.loads = 0

    def load(self) -> type[ProviderAdapter[Any, Any]]:
        self.loads += 1
        self.gate.wait(10)
        if self.failures:
            self.failures -= 1
            raise ImportError("the SDK is not installed")
        return self.entry.load()


class _ClosedSpy:
    """An adapter that notes whether it was closed."""

    def __init__(self, inner: LLMProvider) -> None:
        self.inner = inner
        self.closed = False

    @property
    def spec(self) -> ProviderSpec:
        return self.inner.spec

    async def complete(self, request: ChatRequest) -> ChatResult:
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self.inner.stream(request)

    async def aclose(self) -> None:
        self.closed = True
        await self.inner.aclose()


def _lazy(
    entry: _GatedEntry,
    fake: FakeUpstream,
    deadline_s: float = 10.0,
    built: list[_ClosedSpy] | None = None,
) -> LazyProvider:
    """``entry``'s provider as the registry builds it; with ``built``, each adapter it builds
    is watched there for being closed."""
    config = ProviderConfig(api_key="k", base_url=fake.url)

    def resilient(adapter: LLMProvider) -> ResilientProvider:
        if built is not None:
            built.append(_ClosedSpy(adapter))
            adapter = built[-1]
        return ResilientProvider(adapter, max_retries=0, deadline_s=deadline_s)

    return LazyProvider(cast(ProviderEntry, entry), entry.entry.SPEC, config, resilient)


async def test_a_first_call_s_deadline_does_not_count_the_sdk_import(fake: FakeUpstream) -> None:
    """The deadline is the provider's: an import slower than it is not a provider time-out."""
    gate = threading.Event()
    provider = _lazy(_GatedEntry(gate), fake, deadline_s=0.2)
    asyncio.get_running_loop().call_later(0.5, gate.set)
    try:
        result = await provider.complete(REQUEST)
    finally:
        await provider.aclose()

    assert result.text == "echo: hello"
    assert provider.is_healthy


async def test_the_deadline_still_bounds_the_provider_itself(fake: FakeUpstream) -> None:
    gate = threading.Event()
    gate.set()
    provider = _lazy(_GatedEntry(gate), fake, deadline_s=0.2)
    fake.enqueue(wire.hang_reply(1.0))
    try:
        with pytest.raises(ProviderTimeout):
            await provider.complete(REQUEST)
    finally:
        await provider.aclose()


async def test_a_caller_that_gives_up_during_the_import_does_not_undo_it(
    fake: FakeUpstream,
) -> None:
    gate = threading.Event()
    entry = _GatedEntry(gate)
    provider = _lazy(entry, fake)
    first = asyncio.create_task(provider.complete(REQUEST))
    await asyncio.sleep(0.05)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.create_task(provider.complete(REQUEST))
    gate.set()
    try:
        result = await second
    finally:
        await provider.aclose()

    assert result.text == "echo: hello"
    assert entry.loads == 1
    assert len(fake.received) == 1  # the cancelled call never reached the provider


async def test_a_failed_import_is_tried_again_by_the_next_call(fake: FakeUpstream) -> None:
    gate = threading.Event()
    gate.set()
    entry = _GatedEntry(gate, failures=1)
    provider = _lazy(entry, fake)
    try:
        with pytest.raises(ImportError):
            await provider.complete(REQUEST)
        result = await provider.complete(REQUEST)
    finally:
        await provider.aclose()

    assert result.text == "echo: hello"
    assert entry.loads == 2
    assert len(fake.received) == 1


async def test_closing_during_a_first_call_s_import_closes_what_it_builds(
    fake: FakeUpstream,
) -> None:
    """Shutdown does not wait for the import; the client built after it is closed, not left
    open, and the call that waited for it is refused unsent."""
    gate = threading.Event()
    built: list[_ClosedSpy] = []
    provider = _lazy(_GatedEntry(gate), fake, built=built)
    call = asyncio.create_task(provider.complete(REQUEST))
    await asyncio.sleep(0.05)
    await provider.aclose()  # returns while the import still waits for its gate
    assert not built
    gate.set()

    with pytest.raises(ProviderUnavailable, match="shutting down"):
        await call
    assert [spy.closed for spy in built] == [True]
    assert fake.received == []


@pytest.mark.parametrize("entry", PROVIDER_ADAPTERS, ids=lambda e: e.SPEC.name)
def test_every_entry_names_an_adapter_that_needs_its_key(entry: ProviderEntry) -> None:
    adapter = entry.load()

    assert entry.ADAPTER.startswith(f"{adapter.__module__}:")
    if entry.KEYLESS:
        return
    with pytest.raises(ProviderNotConfigured) as caught:
        adapter(entry.SPEC, ProviderConfig(api_key=None))
    assert caught.value.details["variable"] == entry.SPEC.key_variable


def test_an_entry_naming_something_else_than_an_adapter_is_refused() -> None:
    wrong = ProviderEntry(
        "src.infrastructure.llm_providers.base:ProviderConfig", spec_of("openai"), "X"
    )

    with pytest.raises(TypeError, match="ProviderAdapter"):
        wrong.load()


# -- resolving a target -------------------------------------------------------------------------


def test_a_bare_model_name_goes_to_the_provider_that_lists_it() -> None:
    registry = build_provider_registry({}, default_provider="openai")

    assert registry.resolve(None, "claude-sonnet-5-5") == ("anthropic", "claude-sonnet-5-5")
    assert registry.resolve(None, "gpt-5.4") == ("openai", "gpt-5.4")
    assert registry.resolve(None, "kimi-k2.5") == ("kimi", "kimi-k2.5")


def test_a_named_provider_keeps_the_model_or_gets_its_default() -> None:
    registry = build_provider_registry({"KIMI_DEFAULT_MODEL": "kimi-k2.5"})

    assert registry.resolve("openai", "claude-sonnet-5-5") == ("openai", "claude-sonnet-5-5")
    assert registry.resolve("kimi", None) == ("kimi", "kimi-k2.5")
    assert registry.resolve(None, None) == ("openai", spec_of("openai").default_model)
    with pytest.raises(InvalidInput):
        registry.resolve("nope", "m")


def test_a_model_only_the_price_book_knows_goes_to_its_provider_never_to_a_free_runtime() -> None:
    price = ModelPrice(input=Decimal(1), cached_input=Decimal(0), output=Decimal(2))
    free = ModelPrice(input=Decimal(0), cached_input=Decimal(0), output=Decimal(0))
    prices = FixedPrices({("mistral", "mistral-tiny-2701"): price, ("ollama", "brand-new"): free})
    registry = build_provider_registry({}, default_provider="gemini", prices=prices)

    assert registry.resolve(None, "mistral-tiny-2701") == ("mistral", "mistral-tiny-2701")
    # Unknown to every list and price: the default provider may serve models newer than its list.
    assert registry.resolve(None, "brand-new") == ("gemini", "brand-new")


def test_the_default_provider_wins_a_model_two_providers_list() -> None:
    registry = build_provider_registry({}, default_provider="ollama")
    assert registry.resolve(None, "llama3.2") == ("ollama", "llama3.2")
    shared = spec_of("ollama").models[-1]  # "mistral": an Ollama model, not a Mistral API id
    assert registry.resolve(None, shared)[0] == "ollama"
