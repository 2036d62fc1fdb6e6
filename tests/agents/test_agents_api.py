"""``/api/agents`` and ``agent_config.agent`` over HTTP, with the domain on in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from src.api.app import create_app
from src.domain.llm import ForcedTool, ToolDefinition
from tests.api.conftest import Harness
from tests.api.test_contract import assert_envelope

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
SUPPORT_BOT: dict[str, Any] = {
    "name": "support-bot",
    "provider": "fake",
    "model": "fake-big",
    "system_prompt": "You are the support agent.",
    "temperature": 0.2,
    "max_tokens": 300,
    "tools": [WEATHER],
    "fallbacks": ["fake:fake-small"],
}


async def _create(api: Harness, **changes: Any) -> dict[str, Any]:
    r = await api.client.post("/api/agents", json={**SUPPORT_BOT, **changes})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_preset_is_created_read_listed_replaced_and_deleted(api: Harness) -> None:
    created = await _create(api)
    assert {k: created[k] for k in SUPPORT_BOT} == {
        **SUPPORT_BOT,
        "tools": [{**WEATHER, "function": {**WEATHER["function"], "strict": None}}],
    }
    assert created["created_at"] == created["updated_at"]
    await _create(api, name="another.bot_2", tools=[], fallbacks=[])

    listed = (await api.client.get("/api/agents")).json()["agents"]
    assert [a["name"] for a in listed] == ["another.bot_2", "support-bot"]
    assert (await api.client.get("/api/agents/support-bot")).json() == created

    r = await api.client.put("/api/agents/support-bot", json={"model": "fake-1"})
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["model"] == "fake-1"
    # A replacement is whole: what it leaves out is unset, not kept from before.
    assert replaced["provider"] is None and replaced["system_prompt"] is None
    assert replaced["tools"] == [] and replaced["fallbacks"] == []
    assert replaced["created_at"] == created["created_at"]
    assert (await api.client.get("/api/agents/support-bot")).json() == replaced

    r = await api.client.delete("/api/agents/support-bot")
    assert r.status_code == 204 and r.content == b""
    assert_envelope(await api.client.get("/api/agents/support-bot"), 404, "agent_not_found")
    assert_envelope(await api.client.delete("/api/agents/support-bot"), 404, "agent_not_found")
    assert [a["name"] for a in (await api.client.get("/api/agents")).json()["agents"]] == [
        "another.bot_2"
    ]


async def test_a_taken_name_is_409_and_keeps_the_first_preset(api: Harness) -> None:
    await _create(api)
    error = assert_envelope(
        await api.client.post("/api/agents", json={**SUPPORT_BOT, "model": "other"}),
        409,
        "agent_exists",
    )
    assert "support-bot" in error["message"] and error["details"] == {"agent": "support-bot"}
    assert (await api.client.get("/api/agents/support-bot")).json()["model"] == "fake-big"


async def test_replacing_a_missing_preset_is_404_and_creates_nothing(api: Harness) -> None:
    error = assert_envelope(
        await api.client.put("/api/agents/ghost", json={"model": "fake-1"}), 404, "agent_not_found"
    )
    assert "ghost" in error["message"]
    assert (await api.client.get("/api/agents")).json() == {"agents": []}


async def test_a_replacement_cannot_rename(api: Harness) -> None:
    await _create(api)
    r = await api.client.put("/api/agents/support-bot", json={"name": "renamed", "model": "m"})
    error = assert_envelope(r, 400, "invalid_request")
    assert error["details"] == {"field": "name"}
    same = await api.client.put("/api/agents/support-bot", json={"name": "support-bot"})
    assert same.status_code == 200


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": ""}, "name"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"fallbacks": ["openai:"]}, "fallbacks"),
        ({"colour": "blue"}, "colour"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools.0.function.name",
        ),
        ({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}, "tools.0.type"),
        ({"tools": [{"type": "function"}]}, "tools.0.function"),
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}
                ]
            },
            "tools.0.function.parameters",
        ),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
    ],
)
async def test_bad_presets_are_422_naming_the_field(
    api: Harness, changes: dict[str, Any], field: str
) -> None:
    error = assert_envelope(
        await api.client.post("/api/agents", json={**SUPPORT_BOT, **changes}),
        422,
        "validation_error",
    )
    assert error["details"]["errors"][0]["field"] == field
    assert field in error["message"]
    assert (await api.client.get("/api/agents")).json() == {"agents": []}


async def test_a_name_in_the_path_is_validated_too(api: Harness) -> None:
    error = assert_envelope(await api.client.get("/api/agents/bad name"), 422, "validation_error")
    assert error["details"]["errors"][0]["field"] == "name"


async def test_a_turn_uses_the_preset_and_the_fields_beside_it_override(api: Harness) -> None:
    await _create(api)
    r = await api.client.post(
        "/api/orchestrate",
        json={"message": "hello", "agent_config": {"agent": "support-bot", "temperature": 0.9}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["agent_used"] == "fake" and r.json()["model_used"] == "fake-big"
    [request] = api.provider.requests
    assert request.model == "fake-big"
    assert request.temperature == 0.9
    assert request.max_tokens == 300
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "You are the support agent."),
        ("user", "hello"),
    ]
    assert request.tools == (
        ToolDefinition("get_weather", "The weather in a city.", WEATHER["function"]["parameters"]),
    )


async def test_a_streamed_turn_uses_the_preset_too(api: Harness) -> None:
    await _create(api)
    r = await api.client.post(
        "/api/orchestrate",
        json={
            "message": "hello",
            "stream": True,
            "agent_config": {"agent": "support-bot", "system_prompt": "Be terse."},
        },
    )
    assert r.status_code == 200 and "event: done" in r.text
    [request] = api.provider.requests
    assert (request.model, request.temperature) == ("fake-big", 0.2)
    assert request.messages[0].content == "Be terse."


async def test_a_model_beside_the_preset_replaces_its_whole_target(api: Harness) -> None:
    await _create(api, provider="absent", model="absent-1")
    r = await api.client.post(
        "/api/orchestrate",
        json={"message": "hello", "agent_config": {"agent": "support-bot", "model": "fake-1"}},
    )
    assert r.status_code == 200, r.text
    # The preset's provider is not configured: the turn went where the model alone leads.
    assert (r.json()["agent_used"], r.json()["model_used"]) == ("fake", "fake-1")
    [request] = api.provider.requests
    assert request.model == "fake-1"
    assert request.messages[0].content == "You are the support agent."  # the rest is kept


@pytest.mark.parametrize("stream", [False, True])
async def test_an_unknown_preset_is_404_before_any_provider_call(
    api: Harness, stream: bool
) -> None:
    r = await api.client.post(
        "/api/orchestrate",
        json={"message": "hello", "stream": stream, "agent_config": {"agent": "ghost"}},
    )
    error = assert_envelope(r, 404, "agent_not_found")
    assert error["details"] == {"agent": "ghost"}
    assert api.provider.requests == []
    assert api.store.data.sessions == {} and api.store.data.calls == []


async def test_openapi_documents_the_presets_with_examples(api: Harness) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths["/api/agents"]) == {"get", "post"}
    assert set(paths["/api/agents/{name}"]) == {"get", "put", "delete"}
    schemas = spec["components"]["schemas"]
    [example] = schemas["CreateAgentRequest"]["examples"]
    assert example["name"] == "support-bot" and example["tools"][0]["type"] == "function"
    assert (
        "agent_not_found" in paths["/api/agents/{name}"]["get"]["responses"]["404"]["description"]
    )
    assert "agent_exists" in paths["/api/agents"]["post"]["responses"]["409"]["description"]
    assert "agent" in schemas["AgentConfig"]["properties"]


async def test_tools_beside_the_preset_replace_its_tools_and_tool_choice_can_force_one(
    api: Harness,
) -> None:
    await _create(api)
    other = {"type": "function", "function": {"name": "open_ticket"}}
    r = await api.client.post(
        "/api/orchestrate",
        json={
            "message": "hello",
            "agent_config": {
                "agent": "support-bot",
                "tools": [other],
                "tool_choice": {"type": "function", "function": {"name": "open_ticket"}},
            },
        },
    )
    assert r.status_code == 200, r.text
    r = await api.client.post(
        "/api/orchestrate",
        json={"message": "hello", "agent_config": {"agent": "support-bot", "tools": []}},
    )
    assert r.status_code == 200, r.text
    first, cleared = api.provider.requests
    assert first.tools == (ToolDefinition("open_ticket"),)
    assert first.tool_choice == ForcedTool("open_ticket")
    assert first.model == "fake-big"  # the rest of the preset still applies
    assert cleared.tools == ()


def _socket_turn(api: Harness, agent_config: dict[str, Any]) -> list[dict[str, Any]]:
    """One turn frame over ``WS /api/ws`` of the same services, up to its done or error."""
    with TestClient(create_app(api.services)) as client, client.websocket_connect("/api/ws") as ws:
        ws.send_json({"type": "turn", "message": "hello", "agent_config": agent_config})
        frames = [ws.receive_json()]
        while frames[-1]["type"] not in ("done", "error"):
            frames.append(ws.receive_json())
    return frames


async def test_a_websocket_turn_uses_the_preset_and_refuses_an_unknown_one(api: Harness) -> None:
    await _create(api)

    done = _socket_turn(api, {"agent": "support-bot", "max_tokens": 42})[-1]
    unknown = _socket_turn(api, {"agent": "ghost"})

    assert done["type"] == "done" and done["model_used"] == "fake-big"
    [request] = api.provider.requests
    assert (request.model, request.temperature, request.max_tokens) == ("fake-big", 0.2, 42)
    assert unknown == [
        {
            "type": "error",
            "error": {
                "code": "agent_not_found",
                "message": "agent 'ghost' does not exist",
                "details": {"agent": "ghost"},
            },
        }
    ]
