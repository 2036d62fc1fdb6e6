"""A model named without its provider is served by the provider that has it, on both doors."""

from __future__ import annotations

from tests.fakes import openai_wire
from tests.integration.conftest import StartService, Upstreams, reply_text


def test_a_bare_model_name_is_routed_to_its_provider(
    start_service: StartService, upstreams: Upstreams
) -> None:
    service = start_service(upstreams.env(("openai", "anthropic")), default_provider="openai")

    answer = service.turn("Hi", model="claude-sonnet-5-5")

    assert (answer["agent_used"], answer["model_used"]) == ("anthropic", "claude-sonnet-5-5")
    assert answer["response"] == reply_text("anthropic", "Hi")
    assert upstreams["openai"].received == []


def test_v1_and_fallbacks_read_provider_and_model_the_same_way(
    start_service: StartService, upstreams: Upstreams
) -> None:
    service = start_service(upstreams.env(("openai", "anthropic")), default_provider="openai")

    bare = service.http.post(
        "/v1/chat/completions",
        json={"model": "claude-sonnet-5-5", "messages": [{"role": "user", "content": "Yo"}]},
    )
    upstreams["openai"].enqueue(openai_wire.error_reply(500, "down"))
    slashed = service.turn("Hey", provider="openai", fallbacks=["anthropic/claude-haiku-5-5"])

    assert bare.status_code == 200, bare.text
    assert bare.json()["model"] == "anthropic/claude-sonnet-5-5"
    assert (slashed["agent_used"], slashed["model_used"]) == ("anthropic", "claude-haiku-5-5")
