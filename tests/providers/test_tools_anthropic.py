"""Tools, forced-tool JSON, options and images over Anthropic's Messages API, through the
real ``anthropic`` SDK against the wire fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from src.domain.errors import InvalidInput
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ForcedTool,
    ResponseFormat,
    StreamEnd,
    TextDelta,
    ToolCallReady,
)
from src.infrastructure.llm_providers.anthropic import AnthropicProvider
from src.infrastructure.llm_providers.base import ProviderConfig
from tests.fakes import anthropic_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.contract import collect
from tests.providers.exchange import (
    ANSWER,
    ANSWER_PIECES,
    PARIS,
    PICTURE,
    ROME,
    WEATHER_SCHEMA,
    asking,
    following_up,
    texts,
)
from tests.providers.registered import spec_of

MODEL = "claude-sonnet-5-5"
OFFERED = [
    {
        "name": "get_weather",
        "input_schema": WEATHER_SCHEMA,
        "description": "Current weather of a city.",
    }
]


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[AnthropicProvider]:
    adapter = AnthropicProvider(
        spec_of("anthropic"),
        ProviderConfig(api_key="k", base_url=fake.url, max_output_tokens=512),
    )
    yield adapter
    await adapter.aclose()


async def test_a_call_is_asked_for_with_the_tools_offered(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(
        wire.message(
            "",
            tool_uses=[
                (PARIS.id, PARIS.name, {"city": "Paris"}),
                (ROME.id, ROME.name, {"city": "Rome"}),
            ],
        )
    )

    result = await provider.complete(asking(MODEL, tool_choice="required"))

    assert result.tool_calls == (PARIS, ROME)
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    assert fake.last.json == {
        "model": MODEL,
        "max_tokens": 512,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Weather in Paris and Rome?"}],
        "tools": OFFERED,
        "tool_choice": {"type": "any"},
    }


async def test_both_results_go_back_in_one_user_message_of_tool_result_blocks(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.message(ANSWER))
    follow_up = following_up(MODEL)
    request = ChatRequest(
        MODEL, (*follow_up.messages, ChatMessage("user", "Thanks!")), tools=follow_up.tools
    )

    result = await provider.complete(request)

    assert (result.text, result.finish_reason) == (ANSWER, "stop")
    assert fake.last.json["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": PARIS.id,
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": ROME.id,
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": PARIS.id, "content": '{"temp_c": 18}'},
                {"type": "tool_result", "tool_use_id": ROME.id, "content": '{"temp_c": 24}'},
                {"type": "text", "text": "Thanks!"},
            ],
        },
    ]


async def test_streamed_input_json_deltas_become_one_event_per_whole_call(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(
        wire.stream(
            ["Checking."],
            tool_uses=[
                (PARIS.id, PARIS.name, ['{"city"', ': "Paris"}']),
                (ROME.id, ROME.name, ['{"city": "Rome"}']),
            ],
        )
    )

    events = await collect(provider.stream(asking(MODEL)))

    calls = [json.loads(e.call.arguments) for e in events if isinstance(e, ToolCallReady)]
    assert events[0] == TextDelta("Checking.")
    assert [e.call.id for e in events if isinstance(e, ToolCallReady)] == [PARIS.id, ROME.id]
    assert calls == [{"city": "Paris"}, {"city": "Rome"}]
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.result.finish_reason == "tool_calls"
    assert [c.id for c in end.result.tool_calls] == [PARIS.id, ROME.id]
    assert fake.last.json["stream"] is True and fake.last.json["tools"] == OFFERED


async def test_a_streamed_follow_up_answers_in_text(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.stream(ANSWER_PIECES))

    events = await collect(provider.stream(following_up(MODEL)))

    assert texts(events) == ANSWER_PIECES
    assert fake.last.json["messages"][2]["content"][0]["type"] == "tool_result"


async def test_json_output_is_a_forced_tool_whose_input_is_the_reply(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    wanted = ResponseFormat("json_schema", "weather", WEATHER_SCHEMA)
    fake.enqueue(
        wire.message("", tool_uses=[("toolu_1", "weather", {"city": "Paris"})]),
        wire.stream([""], tool_uses=[("toolu_2", "weather", ['{"city": ', '"Rome"}'])]),
    )
    request = ChatRequest(MODEL, (ChatMessage("user", "A city?"),), response_format=wanted)

    whole = await provider.complete(request)
    streamed = await collect(provider.stream(request))

    assert (json.loads(whole.text), whole.tool_calls, whole.finish_reason) == (
        {"city": "Paris"},
        (),
        "stop",
    )
    assert fake.received[0].json["tools"] == [
        {
            "name": "weather",
            "input_schema": WEATHER_SCHEMA,
            "description": "Give the answer as this tool's input.",
        }
    ]
    assert fake.received[0].json["tool_choice"] == {"type": "tool", "name": "weather"}
    end = streamed[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.text, end.result.tool_calls) == ('{"city": "Rome"}', ())
    assert [e.text for e in streamed if isinstance(e, TextDelta)] == ['{"city": ', '"Rome"}']


async def test_json_output_cannot_be_combined_with_tools(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await provider.complete(asking(MODEL, response_format=ResponseFormat("json_object")))

    assert caught.value.details["field"] == "response_format"
    assert fake.received == []


async def test_options_images_and_a_forced_tool_in_anthropics_names(
    fake: FakeUpstream, provider: AnthropicProvider
) -> None:
    fake.enqueue(wire.message("A cat."))
    request = ChatRequest(
        MODEL,
        (PICTURE,),
        tools=asking(MODEL).tools,
        tool_choice=ForcedTool("get_weather"),
        options={"stop": "END", "user": "u-1", "parallel_tool_calls": False},
    )

    await provider.complete(request)

    sent = fake.last.json
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    assert sent["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert (sent["stop_sequences"], sent["metadata"]) == (["END"], {"user_id": "u-1"})
