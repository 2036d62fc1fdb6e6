"""A tool exchange begun on one provider and continued on another, for every pair of
protocol families: the calls one provider made, with their results, reach the next provider
in a form it accepts (each call paired with its result, in that provider's own terms)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from src.domain.llm import ChatMessage, ChatRequest
from tests.fakes import anthropic_wire, dashscope_wire, gemini_wire, mistral_wire, openai_wire
from tests.fakes.upstream import FakeUpstream, Reply
from tests.providers.contract import WIRES, Wire
from tests.providers.exchange import QUESTION, SYSTEM, WEATHER

Pairs = list[tuple[str, str]]  # (call id or name, result id or name), as the wire says them


def _openai_pairs(messages: list[dict[str, Any]]) -> Pairs:
    calls = [c["id"] for m in messages for c in m.get("tool_calls") or ()]
    results = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    return list(zip(calls, results, strict=True))


def _anthropic_pairs(body: dict[str, Any]) -> Pairs:
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    calls = [b["id"] for b in blocks if b["type"] == "tool_use"]
    results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
    return list(zip(calls, results, strict=True))


def _gemini_pairs(body: dict[str, Any]) -> Pairs:
    parts = [p for c in body["contents"] for p in c["parts"]]
    calls = [p["functionCall"]["name"] for p in parts if "functionCall" in p]
    results = [p["functionResponse"]["name"] for p in parts if "functionResponse" in p]
    return list(zip(calls, results, strict=True))


#: Per family: a reply calling get_weather(Lyon), and the call/result pairs of a request.
FAMILIES: dict[str, tuple[Callable[[], Reply], Callable[[dict[str, Any]], Pairs]]] = {
    "openai": (
        lambda: openai_wire.chat_reply(
            "", tool_calls=[("call_Xy12", "get_weather", '{"city": "Lyon"}')]
        ),
        lambda body: _openai_pairs(body["messages"]),
    ),
    "anthropic": (
        lambda: anthropic_wire.message(
            "", tool_uses=[("toolu_01AbC", "get_weather", {"city": "Lyon"})]
        ),
        _anthropic_pairs,
    ),
    "gemini": (
        lambda: gemini_wire.response("", calls=[("get_weather", {"city": "Lyon"})]),
        _gemini_pairs,
    ),
    "mistral": (
        lambda: mistral_wire.chat_reply(
            "", tool_calls=[("D681PevKs", "get_weather", '{"city": "Lyon"}')]
        ),
        lambda body: _openai_pairs(body["messages"]),
    ),
    "qwen": (
        lambda: dashscope_wire.generation_reply(
            "", tool_calls=[("call_7f3e", "get_weather", '{"city": "Lyon"}')]
        ),
        lambda body: _openai_pairs(body["input"]["messages"]),
    ),
}
REPLY_TEXT: dict[str, Callable[[], Reply]] = {
    "openai": lambda: openai_wire.chat_reply("18°C."),
    "anthropic": lambda: anthropic_wire.message("18°C."),
    "gemini": lambda: gemini_wire.response("18°C."),
    "mistral": lambda: mistral_wire.chat_reply("18°C."),
    "qwen": lambda: dashscope_wire.generation_reply("18°C."),
}
BY_NAME = {wire.name: wire for wire in WIRES}


@pytest.mark.parametrize(
    ("first", "then"),
    [pair for pair in itertools.product(FAMILIES, repeat=2) if pair[0] != pair[1]],
    ids=lambda name: name,
)
async def test_a_call_made_on_one_provider_is_answered_on_another(
    first: str, then: str, fake: FakeUpstream
) -> None:
    calling, answering = BY_NAME[first].build(fake.url), BY_NAME[then].build(fake.url)
    fake.enqueue(FAMILIES[first][0](), REPLY_TEXT[then]())
    try:
        asked = await calling.complete(_request(BY_NAME[first], (SYSTEM, QUESTION)))
        (call,) = asked.tool_calls
        result = ChatMessage("tool", '{"temp_c": 18}', tool_call_id=call.id, name=call.name)
        history = (SYSTEM, QUESTION, ChatMessage("assistant", "", tool_calls=(call,)), result)
        answer = await answering.complete(_request(BY_NAME[then], history))
    finally:
        await calling.aclose()
        await answering.aclose()

    assert answer.text == "18°C."
    sent = fake.last.json
    (pair,) = FAMILIES[then][1](sent)
    assert pair[0] == pair[1] and pair[0]  # the call and its result match, in the next one's terms
    assert "Lyon" in json.dumps(sent)  # the call's arguments made the journey (not in the question)


def _request(wire: Wire, messages: tuple[ChatMessage, ...]) -> ChatRequest:
    return ChatRequest(wire.entry.SPEC.default_model, messages, tools=(WEATHER,))
