"""The OpenAI-compatible front door (``/v1``) with the real ``openai`` SDK as the client.

An existing OpenAI client pointed at the gateway must work unchanged: plain and streamed
completions, the model list, and errors raised as the SDK's own exception types. With an
``X-Session-Id`` header the gateway supplies the memory the client did not send.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.integration.conftest import (
    DIALECTS,
    KNOWN_USAGE,
    Service,
    StartService,
    Upstreams,
    reply_text,
    usd,
)

MODEL = "gpt-5.4"
CONFIGURED = ("openai", "anthropic")


@pytest.fixture
def service(start_service: StartService, upstreams: Upstreams) -> Service:
    """Only OpenAI and Anthropic are configured: the others must not show up anywhere."""
    return start_service(upstreams.env(CONFIGURED))


@pytest.fixture
def client(service: Service) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{service.url}/v1", api_key="anything", max_retries=0) as sdk:
        yield sdk


def new_session(service: Service) -> str:
    created = service.http.post("/api/sessions", json={})
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    return session_id


def streamed(
    client: openai.OpenAI, text: str, headers: dict[str, str] | None = None
) -> tuple[str, list[openai.types.chat.ChatCompletionChunk]]:
    """Streams a one-message completion; the joined text and every chunk."""
    chunks = list(
        client.chat.completions.create(
            model=f"openai/{MODEL}",
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        )
    )
    joined = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return joined, chunks


def assert_known_usage(usage: openai.types.CompletionUsage | None) -> None:
    known = KNOWN_USAGE["openai"]
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        known.input_tokens,
        known.output_tokens,
        known.total_tokens,
    )
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == known.cached_input_tokens


def test_a_plain_completion_is_stateless_yet_counted(
    service: Service, client: openai.OpenAI, upstreams: Upstreams
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Explain AI simply"},
    ]

    completion = client.chat.completions.create(model=f"openai/{MODEL}", messages=messages)

    assert completion.choices[0].message.content == reply_text("openai", "Explain AI simply")
    assert completion.choices[0].message.role == "assistant"
    assert completion.model == f"openai/{MODEL}"
    assert_known_usage(completion.usage)
    sent = upstreams["openai"].last.json
    assert (sent["model"], sent["messages"]) == (MODEL, messages)
    assert service.get("/api/sessions")["total"] == 0
    counted = service.get("/api/metrics")["providers"]["openai"]
    assert counted["requests"] == 1
    assert counted["tokens"] == KNOWN_USAGE["openai"].total_tokens
    assert counted["cost"] == pytest.approx(usd("openai", MODEL, KNOWN_USAGE["openai"]), abs=1e-12)


def test_with_a_session_memory_supplies_what_the_client_did_not_send(
    service: Service, client: openai.OpenAI, upstreams: Upstreams
) -> None:
    session_id = new_session(service)
    header = {"X-Session-Id": session_id}

    first = client.chat.completions.with_raw_response.create(
        model=f"openai/{MODEL}",
        messages=[{"role": "user", "content": "My name is Ada."}],
        extra_headers=header,
    )
    second = client.chat.completions.create(
        model="anthropic",
        messages=[{"role": "user", "content": "What is my name?"}],
        extra_headers=header,
    )

    assert first.headers["x-session-id"] == session_id
    assert first.parse().choices[0].message.content == reply_text("openai", "My name is Ada.")
    assert second.choices[0].message.content == reply_text("anthropic", "What is my name?")
    assert second.model.startswith("anthropic/")
    assert DIALECTS["anthropic"].conversation(upstreams["anthropic"].last) == [
        ("user", "My name is Ada."),
        ("assistant", reply_text("openai", "My name is Ada.")),
        ("user", "What is my name?"),
    ]
    history = service.get(f"/api/sessions/{session_id}/history")
    assert [m["provider"] for m in history["messages"]] == [None, "openai", None, "anthropic"]


def test_a_stream_without_a_session_joins_to_the_reply_and_ends_with_usage(
    service: Service, client: openai.OpenAI
) -> None:
    text, chunks = streamed(client, "Stream to me")

    assert text == reply_text("openai", "Stream to me")
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].choices == []
    assert_known_usage(chunks[-1].usage)
    assert service.get("/api/sessions")["total"] == 0
    assert service.get("/api/metrics")["providers"]["openai"]["requests"] == 1


def test_every_streamed_chunk_names_the_model(client: openai.OpenAI) -> None:
    _, chunks = streamed(client, "Hi")

    assert {chunk.model for chunk in chunks} == {f"openai/{MODEL}"}


def test_a_stream_with_a_session_is_stored_as_the_turn(
    service: Service, client: openai.OpenAI, upstreams: Upstreams
) -> None:
    session_id = new_session(service)

    text, chunks = streamed(client, "Remember this", {"X-Session-Id": session_id})
    follow_up, _ = streamed(client, "And now?", {"X-Session-Id": session_id})

    assert text == reply_text("openai", "Remember this")
    assert follow_up == reply_text("openai", "And now?")
    assert_known_usage(chunks[-1].usage)
    assert upstreams["openai"].last.json["messages"][:2] == [
        {"role": "user", "content": "Remember this"},
        {"role": "assistant", "content": text},
    ]
    history = service.get(f"/api/sessions/{session_id}/history")
    assert [m["content"] for m in history["messages"]] == [
        "Remember this",
        text,
        "And now?",
        follow_up,
    ]
    assert history["messages"][1]["input_tokens"] == KNOWN_USAGE["openai"].input_tokens


def test_models_lists_every_configured_model_as_provider_slash_model(
    service: Service, client: openai.OpenAI
) -> None:
    providers = service.get("/api/providers")["providers"]
    configured = {f"{p['name']}/{m}" for p in providers if p["is_configured"] for m in p["models"]}

    listed = [model.id for model in client.models.list()]

    assert sorted(listed) == sorted(configured)
    assert {model_id.partition("/")[0] for model_id in listed} == set(CONFIGURED)
    assert f"openai/{MODEL}" in listed


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_an_unknown_session_raises_not_found_in_openai_error_shape(
    client: openai.OpenAI, stream: bool
) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(
            model=f"openai/{MODEL}",
            messages=[{"role": "user", "content": "Hello"}],
            stream=stream,
            extra_headers={"X-Session-Id": "sess_00000000000000000000000000000000"},
        )

    error = raised.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", "session_not_found")
    assert "sess_00000000000000000000000000000000" in error["message"]
    assert raised.value.code == "session_not_found"


def test_an_invalid_request_raises_the_sdk_client_error(client: openai.OpenAI) -> None:
    with pytest.raises((openai.UnprocessableEntityError, openai.BadRequestError)) as raised:
        client.chat.completions.create(model=f"openai/{MODEL}", messages=[])

    error = raised.value.response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "validation_error"
    assert "messages" in error["message"]
