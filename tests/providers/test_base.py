"""The error mapping every adapter shares."""

from __future__ import annotations

import email.utils
import time

import pytest

from src.domain import errors
from src.infrastructure.llm_providers.base import (
    MAX_UPSTREAM_MESSAGE,
    ProviderConfig,
    retry_after_seconds,
)
from src.infrastructure.llm_providers.openai import OpenAIProvider
from tests.providers.registered import spec_of


@pytest.fixture
def adapter() -> OpenAIProvider:
    return OpenAIProvider(
        spec_of("openai"), ProviderConfig(api_key="sk-secret-123", base_url="http://127.0.0.1:9")
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, errors.ProviderAuthError),
        (403, errors.ProviderAuthError),
        (429, errors.ProviderRateLimited),
        (408, errors.ProviderTimeout),
        (500, errors.ProviderServerError),
        (529, errors.ProviderServerError),
        (400, errors.ProviderRejectedRequest),
        (404, errors.ProviderRejectedRequest),
    ],
)
def test_status_maps_to_one_domain_error(adapter: OpenAIProvider, status: int, kind: type) -> None:
    assert type(adapter.error_for_status(status, "x")) is kind


def test_our_key_never_appears_in_an_error_and_long_bodies_are_cut(adapter: OpenAIProvider) -> None:
    error = adapter.error_for_status(400, "bad key sk-secret-123 " + "y" * 1000)
    assert "sk-secret-123" not in error.message
    assert len(error.message) < MAX_UPSTREAM_MESSAGE + 60
    auth = adapter.error_for_status(401, "Incorrect API key provided: sk-secret-123")
    assert "OPENAI_API_KEY" in auth.message and "sk-secret" not in auth.message


def test_retry_after_in_seconds_milliseconds_or_http_date() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after_seconds({"Retry-After": later}) or 0) <= 31
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_a_stream_without_its_finish_is_cut_and_never_passed_off_as_a_reply() -> None:
    from src.domain.llm import ChatMessage, ChatRequest
    from src.infrastructure.llm_providers.assembly import StreamAssembly

    request = ChatRequest("m", (ChatMessage("user", "hi"),))
    cut = StreamAssembly("openai", request)
    assert cut.text("half a") is not None and cut.text("") is None
    with pytest.raises(errors.ProviderConnectionError):
        cut.end()
    whole = StreamAssembly("openai", request)
    whole.text("all of it")
    whole.thought("because")
    whole.finish("stop")
    result = whole.end().result
    assert (result.text, result.reasoning_content, result.finish_reason) == (
        "all of it",
        "because",
        "stop",
    )
    assert result.usage.estimated


@pytest.mark.parametrize(
    ("table", "native", "expected"),
    [
        ("openai", "stop", "stop"),
        ("openai", "tool_calls", "tool_calls"),
        ("openai", "function_call", "tool_calls"),
        ("openai", "content_filter", "content_filter"),
        ("anthropic", "end_turn", "stop"),
        ("anthropic", "max_tokens", "length"),
        ("anthropic", "tool_use", "tool_calls"),
        ("anthropic", "refusal", "content_filter"),
        ("anthropic", "pause_turn", None),
        ("gemini", "STOP", "stop"),
        ("gemini", "MAX_TOKENS", "length"),
        ("gemini", "SAFETY", "content_filter"),
        ("gemini", "OTHER", None),
        ("mistral", "model_length", "length"),
        ("mistral", "error", None),
        ("openai", "interrupted", None),  # the gateway's own word, never a provider's
        ("openai", None, None),
    ],
)
def test_each_providers_finish_reasons_become_the_domains(
    table: str, native: str | None, expected: str | None
) -> None:
    from src.infrastructure.llm_providers import anthropic, gemini, mistral, openai_compatible
    from src.infrastructure.llm_providers.assembly import finish_reason

    tables = {
        "openai": openai_compatible.OPENAI_FINISH_REASONS,
        "anthropic": anthropic.ANTHROPIC_FINISH_REASONS,
        "gemini": gemini.GEMINI_FINISH_REASONS,
        "mistral": mistral.MISTRAL_FINISH_REASONS,
    }
    assert finish_reason(native, tables[table]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"temp_c": 18}', {"temp_c": 18}),
        ("", {}),
        ("18 degrees and sunny", {"result": "18 degrees and sunny"}),
        ("[1, 2]", {"result": [1, 2]}),
    ],
)
def test_tool_text_becomes_the_json_object_gemini_and_anthropic_take(
    text: str, expected: dict[str, object]
) -> None:
    from src.infrastructure.llm_providers.payloads import json_object

    assert json_object(text, "result") == expected
