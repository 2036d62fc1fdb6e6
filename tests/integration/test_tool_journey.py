"""One agent's tool exchange held server-side across providers, over HTTP and real SDKs.

A session calls a tool on Anthropic, answers it and gets another call on Gemini, answers that
on OpenAI, then talks on until a summary folds the exchange away; each provider receives the
history in its own terms, calls paired with their results. And the same kind of agent, an
openai SDK tool loop, works through ``/v1`` unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from openai import OpenAI

from tests.fakes import anthropic_wire, gemini_wire, openai_wire
from tests.integration.conftest import StartService, Upstreams, is_summary_request

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CLOCK = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}
QUESTION = "Should I take an umbrella for my walk in Paris this afternoon, and when is sunset?"


def _turns(received: list[Any]) -> list[Any]:
    return [r for r in received if not is_summary_request(r)]


def test_a_tool_exchange_moves_across_providers_and_survives_a_summary(
    start_service: StartService, upstreams: Upstreams
) -> None:
    service = start_service(session_summarization_threshold=8, session_keep_recent=2)
    upstreams["anthropic"].enqueue(
        anthropic_wire.message("", tool_uses=[("toolu_01", "get_weather", {"city": "Paris"})])
    )
    first = service.turn(QUESTION, provider="anthropic", tools=[WEATHER, CLOCK])
    assert first["finish_reason"] == "tool_calls"
    assert first["tool_calls"] == [
        {"id": "toolu_01", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    sid = first["session_id"]

    upstreams["gemini"].enqueue(gemini_wire.response("", calls=[("get_time", {"tz": "CET"})]))
    body = {
        "session_id": sid,
        "tool_results": [{"tool_call_id": "toolu_01", "content": "light rain, 14C"}],
        "agent_config": {"provider": "gemini", "tools": [WEATHER, CLOCK]},
    }
    second = service.http.post("/api/orchestrate", json=body).json()
    [gemini_call] = second["tool_calls"]
    assert gemini_call["name"] == "get_time" and gemini_call["id"]
    contents = _turns(upstreams["gemini"].received)[-1].json["contents"]
    parts = [p for c in contents for p in c["parts"]]
    assert {"name": "get_weather", "args": {"city": "Paris"}} in [
        p.get("functionCall") for p in parts
    ]
    [response] = [p["functionResponse"] for p in parts if "functionResponse" in p]
    assert response["name"] == "get_weather"

    body = {
        "session_id": sid,
        "tool_results": [{"tool_call_id": gemini_call["id"], "content": "sunset 17:05"}],
        "agent_config": {"provider": "openai", "tools": [WEATHER, CLOCK]},
    }
    third = service.http.post("/api/orchestrate", json=body)
    assert third.status_code == 200, third.text
    sent = _turns(upstreams["openai"].received)[-1].json["messages"]
    roles = [m["role"] for m in sent]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == "toolu_01" and sent[2]["tool_call_id"] == "toolu_01"
    assert sent[3]["tool_calls"][0]["id"] == gemini_call["id"]
    assert sent[4]["tool_call_id"] == gemini_call["id"]

    history = service.get(f"/api/sessions/{sid}/history")["messages"]
    assert [m["role"] for m in history] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert history[2]["tool_call_id"] == "toolu_01" and history[2]["tool_name"] == "get_weather"

    answers = [
        service.turn(f"follow-up question number {number} about the walk", sid)
        for number in range(3)
    ]
    assert any(a["metadata"]["was_summarized"] for a in answers)
    [summary_call] = [r for r in upstreams["openai"].received if is_summary_request(r)]
    folded = summary_call.json["messages"][-1]["content"]
    assert 'called get_weather({"city": "Paris"})' in folded
    for received in _turns(upstreams["openai"].received):
        conversation = [m for m in received.json["messages"] if m["role"] != "system"]
        assert conversation[0]["role"] != "tool"  # never an orphan result


def test_the_openai_sdk_tool_loop_works_through_v1_unchanged(
    start_service: StartService, upstreams: Upstreams
) -> None:
    service = start_service()
    upstreams["openai"].enqueue(
        openai_wire.chat_reply("", tool_calls=[("call_1", "get_weather", '{"city": "Oslo"}')]),
        openai_wire.chat_reply("Take a coat: 3C in Oslo."),
    )
    client = OpenAI(base_url=f"{service.url}/v1", api_key="unused-in-open-mode", max_retries=0)
    sid = service.http.post("/api/sessions", json={}).json()["session_id"]
    messages: list[Any] = [{"role": "user", "content": "What should I wear in Oslo?"}]
    reply = client.chat.completions.create(
        model="openai/gpt-5.4-mini",
        messages=messages,
        tools=[WEATHER],  # type: ignore[list-item]
        extra_headers={"X-Session-Id": sid},
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    messages.append(choice.message)
    arguments = json.loads(call.function.arguments)
    messages.append(
        {"role": "tool", "tool_call_id": call.id, "content": f"3C in {arguments['city']}"}
    )
    final = client.chat.completions.create(
        model="openai/gpt-5.4-mini",
        messages=messages,
        tools=[WEATHER],  # type: ignore[list-item]
        extra_headers={"X-Session-Id": sid},
    )
    assert final.choices[0].message.content == "Take a coat: 3C in Oslo."
    assert final.choices[0].message.refusal is None
    sent = upstreams["openai"].received[-1].json
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    history = service.get(f"/api/sessions/{sid}/history")["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant"]


def test_v1_refuses_a_parameter_the_provider_cannot_honour_naming_it(
    start_service: StartService,
) -> None:
    service = start_service()
    r = service.http.post(
        "/v1/chat/completions",
        json={
            "model": "anthropic/claude-sonnet-5-5",
            "messages": [{"role": "user", "content": "hi"}],
            "logit_bias": {"50256": -100},
        },
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "logit_bias"


def test_v1_validation_errors_are_400_naming_the_param(start_service: StartService) -> None:
    service = start_service()
    r = service.http.post(
        "/v1/chat/completions",
        json={"model": "openai", "messages": [{"role": "user", "content": "hi"}], "temperature": 9},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "temperature"
