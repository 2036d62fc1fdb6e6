"""The whole application, served for real, against fake upstreams over HTTP.

Each test gets ``build_app`` (the composition root) with its own SQLite file, migrated at
start-up by the lifespan, served by uvicorn on a free loopback port in a background thread.
Every provider's real adapter and SDK talk over real sockets to one ``FakeUpstream`` per
provider, which answers in that provider's wire dialect with text naming the provider and a
known usage, and which records every request so a test can read back the exact context sent.

The dialects below know, per protocol, where the system text and the conversation sit in a
request body (OpenAI ``messages``, Anthropic ``system``, Gemini ``systemInstruction`` and
``contents``, DashScope ``input.messages``), so tests can assert memory independently of it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import uvicorn

from src.bootstrap import build_app
from src.domain.llm import TokenUsage
from src.domain.memory import SUMMARY_INSTRUCTIONS
from src.domain.pricing import cost_of
from src.infrastructure.llm_providers.registry import PROVIDER_ADAPTERS
from src.infrastructure.pricing.price_book import DatedPriceBook
from src.infrastructure.settings import Settings
from tests.fakes import anthropic_wire, dashscope_wire, gemini_wire, mistral_wire, openai_wire
from tests.fakes.upstream import FakeUpstream, Received, Reply

#: The eight providers of SPEC §2, in the order a conversation rotates through them.
PROVIDERS = ("openai", "anthropic", "gemini", "mistral", "grok", "qwen", "deepseek", "kimi")

#: What each fake reports for every call, in the domain's convention (input includes cached).
KNOWN_USAGE = {
    name: TokenUsage(input_tokens=300 + 10 * i, output_tokens=20 + i, cached_input_tokens=100)
    for i, name in enumerate(PROVIDERS)
}

DEFAULT_MODELS = {adapter.SPEC.name: adapter.SPEC.default_model for adapter in PROVIDER_ADAPTERS}
PRICES = DatedPriceBook.load()

Turn = tuple[str, str]  # (role, text) with roles "user" / "assistant"


def usd(provider: str, model: str, usage: TokenUsage) -> float:
    """What ``usage`` on ``model`` costs by the price table, as the API reports it."""
    cost = cost_of(usage, PRICES.price_of(provider, model))
    assert cost is not None, f"{provider}/{model} has no price"
    return float(cost)


def is_summary_request(received: Received) -> bool:
    """Whether the gateway asked for a running summary rather than a turn's reply."""
    return SUMMARY_INSTRUCTIONS in str(received.body)


def summary_text(provider: str) -> str:
    return f"SUMMARY by {provider}: the user asked numbered questions."


def reply_text(provider: str, question: str) -> str:
    return f"[{provider}] answers: {question}"


# -- dialects ---------------------------------------------------------------------------------


class Dialect(Protocol):
    """One provider protocol, seen from the upstream's side."""

    def base_url(self, root: str) -> str:
        """The value of the provider's base-URL variable for a fake served at ``root``."""
        ...

    def system(self, received: Received) -> str | None: ...

    def conversation(self, received: Received) -> list[Turn]: ...

    def reply(self, text: str, usage: TokenUsage, stream: bool) -> Reply: ...

    def wants_stream(self, received: Received) -> bool: ...


def _split_messages(messages: list[dict[str, Any]]) -> tuple[str | None, list[Turn]]:
    system = [m["content"] for m in messages if m["role"] == "system"]
    turns = [(m["role"], m["content"]) for m in messages if m["role"] != "system"]
    return ("\n\n".join(system) or None), turns


def _pieces(text: str) -> list[str]:
    """``text`` cut into word-sized stream pieces that join back to it."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


@dataclass(frozen=True)
class OpenAIDialect:
    """OpenAI chat completions, also spoken by xAI, DeepSeek and Moonshot.

    ``path`` is what the vendor's public base URL carries after the host (``/v1`` except
    DeepSeek); ``deepseek_cache`` reports cached tokens as DeepSeek's hit/miss split.
    """

    path: str = "/v1"
    deepseek_cache: bool = False

    def base_url(self, root: str) -> str:
        return root + self.path

    def system(self, received: Received) -> str | None:
        return _split_messages(received.json["messages"])[0]

    def conversation(self, received: Received) -> list[Turn]:
        return _split_messages(received.json["messages"])[1]

    def wants_stream(self, received: Received) -> bool:
        return bool(received.json.get("stream"))

    def usage_body(self, usage: TokenUsage) -> dict[str, Any]:
        cached = usage.cached_input_tokens
        if self.deepseek_cache:
            split = (cached, usage.input_tokens - cached)
            return openai_wire.usage(usage.input_tokens, usage.output_tokens, cache_hit_miss=split)
        return openai_wire.usage(usage.input_tokens, usage.output_tokens, cached_tokens=cached)

    def reply(self, text: str, usage: TokenUsage, stream: bool) -> Reply:
        if stream:
            return openai_wire.stream_reply(_pieces(text), usage_body=self.usage_body(usage))
        return openai_wire.chat_reply(text, usage_body=self.usage_body(usage))


class AnthropicDialect:
    """Anthropic Messages: ``system`` apart; ``input_tokens`` excludes cache reads."""

    def base_url(self, root: str) -> str:
        return root

    def system(self, received: Received) -> str | None:
        system = received.json.get("system")
        return system if isinstance(system, str) else None

    def conversation(self, received: Received) -> list[Turn]:
        return [(m["role"], m["content"]) for m in received.json["messages"]]

    def wants_stream(self, received: Received) -> bool:
        return bool(received.json.get("stream"))

    def reply(self, text: str, usage: TokenUsage, stream: bool) -> Reply:
        cached = usage.cached_input_tokens
        uncached = usage.input_tokens - cached
        if stream:
            opening = anthropic_wire.usage(uncached, 1, cache_read=cached)
            return anthropic_wire.stream(
                _pieces(text), start_usage=opening, output_tokens=usage.output_tokens
            )
        body = anthropic_wire.usage(uncached, usage.output_tokens, cache_read=cached)
        return anthropic_wire.message(text, usage_body=body)


class GeminiDialect:
    """Gemini ``generateContent``: ``systemInstruction`` apart; the assistant is ``model``."""

    def base_url(self, root: str) -> str:
        return root

    def system(self, received: Received) -> str | None:
        instruction = received.json.get("systemInstruction")
        if not instruction:
            return None
        return "".join(part["text"] for part in instruction["parts"])

    def conversation(self, received: Received) -> list[Turn]:
        return [
            ("assistant" if c["role"] == "model" else c["role"], c["parts"][0]["text"])
            for c in received.json["contents"]
        ]

    def wants_stream(self, received: Received) -> bool:
        return received.path.endswith(":streamGenerateContent")

    def reply(self, text: str, usage: TokenUsage, stream: bool) -> Reply:
        body = gemini_wire.usage(
            usage.input_tokens, usage.output_tokens, cached=usage.cached_input_tokens
        )
        if stream:
            return gemini_wire.stream(_pieces(text), final_usage=body)
        return gemini_wire.response(text, usage_body=body)


@dataclass(frozen=True)
class MistralDialect(OpenAIDialect):
    """Mistral speaks OpenAI's ``messages``, but its base URL is the host, without ``/v1``."""

    path: str = ""

    def reply(self, text: str, usage: TokenUsage, stream: bool) -> Reply:
        body = mistral_wire.usage(
            usage.input_tokens, usage.output_tokens, cached_tokens=usage.cached_input_tokens
        )
        if stream:
            return mistral_wire.stream_reply(_pieces(text), usage_body=body)
        return mistral_wire.chat_reply(text, usage_body=body)


class QwenDialect:
    """DashScope's native protocol: the base URL includes ``/api/v1``; one system message."""

    def base_url(self, root: str) -> str:
        return root + dashscope_wire.BASE_PATH

    def system(self, received: Received) -> str | None:
        return _split_messages(received.json["input"]["messages"])[0]

    def conversation(self, received: Received) -> list[Turn]:
        return _split_messages(received.json["input"]["messages"])[1]

    def wants_stream(self, received: Received) -> bool:
        return received.headers.get("x-dashscope-sse") == "enable"

    def reply(self, text: str, usage: TokenUsage, stream: bool) -> Reply:
        body = dashscope_wire.usage(
            usage.input_tokens, usage.output_tokens, cached_tokens=usage.cached_input_tokens
        )
        if stream:
            return dashscope_wire.stream_reply(
                _pieces(text),
                input_tokens=usage.input_tokens,
                cached_tokens=usage.cached_input_tokens,
            )
        return dashscope_wire.generation_reply(text, usage_body=body)


DIALECTS: dict[str, Dialect] = {
    "openai": OpenAIDialect(),
    "anthropic": AnthropicDialect(),
    "gemini": GeminiDialect(),
    "mistral": MistralDialect(),
    "grok": OpenAIDialect(),
    "qwen": QwenDialect(),
    "deepseek": OpenAIDialect(path="", deepseek_cache=True),
    "kimi": OpenAIDialect(),
}

#: Each provider's key and base-URL variables (SPEC §2).
KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "grok": "GROK_API_KEY",
    "qwen": "QWEN_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "kimi": "KIMI_K2_API_KEY",
}


def responder(provider: str) -> Callable[[Received], Reply]:
    """Answers a turn with text naming ``provider`` and the question, or a short summary."""
    dialect = DIALECTS[provider]

    def answer(received: Received) -> Reply:
        if is_summary_request(received):
            text = summary_text(provider)
        else:
            text = reply_text(provider, dialect.conversation(received)[-1][1])
        return dialect.reply(text, KNOWN_USAGE[provider], dialect.wants_stream(received))

    return answer


# -- fake upstreams ---------------------------------------------------------------------------


class Upstreams:
    """One fake per provider, shared by the whole run and reset before each test."""

    def __init__(self, fakes: Mapping[str, FakeUpstream]) -> None:
        self.fakes = dict(fakes)

    def __getitem__(self, provider: str) -> FakeUpstream:
        return self.fakes[provider]

    def env(self, providers: tuple[str, ...] = PROVIDERS) -> dict[str, str]:
        """Keys and base URLs that configure ``providers`` against their fakes."""
        env: dict[str, str] = {}
        for name in providers:
            env[KEY_VARIABLES[name]] = f"test-key-{name}"
            env[f"{name.upper()}_BASE_URL"] = DIALECTS[name].base_url(self.fakes[name].url)
        return env

    def reset(self) -> None:
        for fake in self.fakes.values():
            fake.reset()


@pytest.fixture(scope="session")
def upstreams() -> Iterator[Upstreams]:
    with contextlib.ExitStack() as stack:
        fakes = {name: stack.enter_context(FakeUpstream(responder(name))) for name in PROVIDERS}
        yield Upstreams(fakes)


# -- the served application -------------------------------------------------------------------


def settings_for(database: Path, **overrides: Any) -> Settings:
    """Settings for a test: its own database, no retries, memory rules at the SPEC defaults
    (stated, so that variables in the environment or a ``.env`` file cannot change them)."""
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{database}",
        "provider_max_retries": 0,
        "provider_timeout_s": 5.0,
        "session_summarization_threshold": 20,
        "session_summary_token_threshold": 6000,
        "session_keep_recent": 6,
        "max_session_history": 50,
        "summary_provider": None,
        "summary_model": None,
        "session_lock_timeout_s": 5.0,
        "access_log": False,
        "log_level": "warning",
        **overrides,
    }
    return Settings(_env_file=None, **values)


class Service:
    """``build_app(settings, env)`` served by uvicorn, lifespan on, on a free loopback port."""

    def __init__(self, settings: Settings, env: Mapping[str, str]) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(
            build_app(settings, env),
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> Service:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start (see the log above)")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stops serving; harmless when already stopped."""
        self.http.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._sock.close()

    # -- the calls most tests make --------------------------------------------------------

    def turn(self, message: str, session_id: str | None = None, **agent: Any) -> dict[str, Any]:
        """``POST /api/orchestrate``; the answer's JSON, asserting a 200."""
        body: dict[str, Any] = {"message": message, "session_id": session_id}
        if agent:
            body["agent_config"] = agent
        response = self.http.post("/api/orchestrate", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def get(self, path: str) -> dict[str, Any]:
        response = self.http.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@contextlib.contextmanager
def serving(database: Path, env: Mapping[str, str], **settings: Any) -> Iterator[Service]:
    """A started service on ``database``, stopped on leaving."""
    service = Service(settings_for(database, **settings), env).start()
    try:
        yield service
    finally:
        service.stop()


StartService = Callable[..., Service]


@pytest.fixture
def start_service(tmp_path: Path, upstreams: Upstreams) -> Iterator[StartService]:
    """Starts services on this test's database (several in turn share it: a restart);
    ``env`` defaults to all eight providers configured against their fakes."""
    upstreams.reset()
    with contextlib.ExitStack() as running:

        def start(env: Mapping[str, str] | None = None, **settings: Any) -> Service:
            chosen = upstreams.env() if env is None else env
            return running.enter_context(serving(tmp_path / "db.sqlite", chosen, **settings))

        yield start


@pytest.fixture
def service(start_service: StartService) -> Service:
    """The service with all eight providers configured against their fakes."""
    return start_service()
