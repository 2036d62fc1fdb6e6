"""What every provider protocol must do alike, and how each one's fake says it on the wire.

A ``Wire`` describes one adapter for ``test_contract``: the registry entry that builds it and
the scripted replies of its ``tests/fakes/*_wire`` module for each situation of the shared
failure matrix (a rate limit saying when to retry, a server error, a rejected key, a hang, a
body cut off mid-JSON, a stream). Each protocol's own test file keeps what only it does: the
exact request it sends, its usage quirks and its provider-specific errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from src.domain.llm import ChatMessage, ChatRequest, StreamEvent, TokenUsage
from src.infrastructure.llm_providers.base import ProviderAdapter, ProviderConfig
from src.infrastructure.llm_providers.registry import ProviderEntry
from tests.fakes import anthropic_wire, dashscope_wire, gemini_wire, mistral_wire, openai_wire
from tests.fakes.upstream import Reply
from tests.providers.registered import entry

API_KEY = "sk-contract-secret-123"
#: Another provider's configured key: not shaped like a key, masked because it is configured.
OTHER_KEY = "hunter2-of-another-provider"


@dataclass(frozen=True)
class Wire:
    """One adapter and its fake's replies, by situation."""

    entry: ProviderEntry
    #: Appended to the fake's URL to make the adapter's base URL.
    base_path: str
    reply: Callable[[str], Reply]
    rate_limited: Callable[[float], Reply]
    server_error: Callable[[], Reply]
    #: A 503 saying when to retry.
    unavailable: Callable[[float], Reply]
    #: A 400 whose body carries the provider's own message.
    rejected: Callable[[str], Reply]
    #: Text of the server error's body that the domain error must quote.
    server_error_says: str
    #: The key is refused; the body echoes it where the provider does.
    invalid_key: Callable[[], Reply]
    malformed: Callable[[], Reply]
    hang: Callable[[float], Reply]
    #: A stream of these pieces, ``chunk_delay_s`` apart, with the wire's default usage.
    stream: Callable[[list[str], float], Reply]
    #: What the default usage of ``stream(["Fe", "lix", "."], ...)`` amounts to.
    stream_usage: TokenUsage
    finish_reason: str
    #: Whether the first piece of text is the stream's first event. Elsewhere events come
    #: before it (a role chunk, ``message_start``...), each after ``chunk_delay_s``.
    text_leads: bool

    @property
    def name(self) -> str:
        return self.entry.SPEC.name

    def build(self, url: str, *, timeout_s: float = 2.0) -> ProviderAdapter:
        config = ProviderConfig(
            api_key=API_KEY,
            base_url=url + self.base_path,
            timeout_s=timeout_s,
            masked_secrets=(API_KEY, OTHER_KEY),
        )
        return self.entry.load()(self.entry.SPEC, config)

    def request(self) -> ChatRequest:
        return ChatRequest(self.entry.SPEC.default_model, (ChatMessage("user", "Name a cat."),))


def _openai_compatible(name: str) -> Wire:
    wire = openai_wire
    return Wire(
        entry(name),
        base_path="",
        reply=lambda text: wire.chat_reply(text),
        rate_limited=lambda s: wire.error_reply(429, "slow down", retry_after=f"{s:g}"),
        server_error=lambda: wire.error_reply(500, "boom"),
        unavailable=lambda s: wire.error_reply(503, "overloaded", retry_after=f"{s:g}"),
        rejected=lambda text: (wire.xai_error_reply if name == "grok" else wire.error_reply)(
            400, text
        ),
        server_error_says="boom",
        invalid_key=lambda: wire.error_reply(401, f"Incorrect API key provided: {API_KEY}"),
        malformed=wire.malformed_reply,
        hang=wire.hang_reply,
        stream=lambda pieces, delay: wire.stream_reply(pieces, chunk_delay_s=delay),
        stream_usage=TokenUsage(12, 5),
        finish_reason="stop",
        text_leads=False,
    )


WIRES = [
    *map(_openai_compatible, ("openai", "grok", "deepseek", "kimi", "ollama")),
    Wire(
        entry("anthropic"),
        base_path="",
        reply=anthropic_wire.message,
        rate_limited=lambda s: anthropic_wire.rate_limited(retry_after_s=s),
        server_error=anthropic_wire.internal_error,
        unavailable=lambda s: anthropic_wire.error(
            "api_error", "Service unavailable", status=503, headers={"retry-after": f"{s:g}"}
        ),
        rejected=lambda text: anthropic_wire.error("invalid_request_error", text),
        server_error_says="Internal server error",
        invalid_key=anthropic_wire.invalid_key,
        malformed=anthropic_wire.malformed,
        hang=anthropic_wire.hang,
        stream=lambda pieces, delay: anthropic_wire.stream(pieces, chunk_delay_s=delay),
        stream_usage=TokenUsage(12, 6),
        finish_reason="stop",
        text_leads=False,
    ),
    Wire(
        entry("gemini"),
        base_path="",
        reply=gemini_wire.response,
        rate_limited=lambda s: gemini_wire.rate_limited(retry_delay_s=s),
        server_error=gemini_wire.internal_error,
        unavailable=lambda s: gemini_wire.error(
            503, "UNAVAILABLE", "The model is overloaded.", headers={"retry-after": f"{s:g}"}
        ),
        rejected=lambda text: gemini_wire.error(400, "INVALID_ARGUMENT", text),
        server_error_says="An internal error has occurred",
        invalid_key=gemini_wire.invalid_key,  # a 400 with reason API_KEY_INVALID
        malformed=gemini_wire.malformed,
        hang=gemini_wire.hang,
        stream=lambda pieces, delay: gemini_wire.stream(pieces, chunk_delay_s=delay),
        stream_usage=TokenUsage(10, 5),
        finish_reason="stop",
        text_leads=True,
    ),
    Wire(
        entry("mistral"),
        base_path="",
        reply=mistral_wire.chat_reply,
        rate_limited=lambda s: mistral_wire.error_reply(429, retry_after=f"{s:g}"),
        server_error=lambda: mistral_wire.error_reply(500),
        unavailable=lambda s: mistral_wire.error_reply(503, retry_after=f"{s:g}"),
        rejected=lambda text: mistral_wire.error_reply(400, text),
        server_error_says="Internal server error",
        invalid_key=lambda: mistral_wire.error_reply(401),
        malformed=mistral_wire.malformed_reply,
        hang=mistral_wire.hang_reply,
        stream=lambda pieces, delay: mistral_wire.stream_reply(pieces, chunk_delay_s=delay),
        stream_usage=TokenUsage(12, 5),
        finish_reason="stop",
        text_leads=False,
    ),
    Wire(
        entry("qwen"),
        base_path=dashscope_wire.BASE_PATH,
        reply=dashscope_wire.generation_reply,
        rate_limited=lambda s: dashscope_wire.error_reply(429, retry_after=f"{s:g}"),
        server_error=lambda: dashscope_wire.error_reply(500),
        unavailable=lambda s: dashscope_wire.error_reply(503, retry_after=f"{s:g}"),
        rejected=lambda text: dashscope_wire.error_reply(400, text),
        server_error_says="InternalError",
        invalid_key=lambda: dashscope_wire.error_reply(401),
        malformed=dashscope_wire.malformed_reply,
        hang=dashscope_wire.hang_reply,
        # One event per piece, each with the usage so far: three pieces, three tokens.
        stream=lambda pieces, delay: dashscope_wire.stream_reply(pieces, chunk_delay_s=delay),
        stream_usage=TokenUsage(20, 3),
        finish_reason="stop",
        text_leads=True,
    ),
]


async def collect(
    events: AsyncIterator[StreamEvent], into: list[StreamEvent] | None = None
) -> list[StreamEvent]:
    """Every event of a stream, appended to ``into`` as it arrives (kept if the stream fails)."""
    received = into if into is not None else []
    async for event in events:
        received.append(event)
    return received
