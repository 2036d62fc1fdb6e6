"""Tools and JSON output over DashScope's native protocol, through the real ``dashscope`` SDK
against the wire fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from src.domain.errors import InvalidInput
from src.domain.llm import ResponseFormat, StreamEnd, ToolCallReady
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.qwen import QwenProvider
from tests.fakes import dashscope_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.contract import collect
from tests.providers.exchange import (
    ANSWER,
    ANSWER_PIECES,
    OPENAI_TOOLS,
    PARIS,
    ROME,
    WEATHER_SCHEMA,
    asking,
    following_up,
    texts,
)
from tests.providers.registered import spec_of

MODEL = "qwen-plus"
OFFERED = OPENAI_TOOLS


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[QwenProvider]:
    config = ProviderConfig(api_key="k", base_url=fake.url + wire.BASE_PATH)
    adapter = QwenProvider(spec_of("qwen"), config)
    yield adapter
    await adapter.aclose()


async def test_a_call_is_asked_for_with_the_tools_in_the_parameters(
    fake: FakeUpstream, provider: QwenProvider
) -> None:
    fake.enqueue(wire.generation_reply("", tool_calls=[(PARIS.id, PARIS.name, PARIS.arguments)]))
    request = asking(
        MODEL,
        tool_choice="required",
        response_format=ResponseFormat("json_object"),
        options={"stop": ["END"], "seed": 3},
    )

    result = await provider.complete(request)

    assert (result.tool_calls, result.finish_reason) == ((PARIS,), "tool_calls")
    assert fake.last.json == {
        "model": MODEL,
        "input": {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Weather in Paris and Rome?"},
            ]
        },
        "parameters": {
            "result_format": "message",
            "max_tokens": 4096,
            "stop": ["END"],
            "seed": 3,
            "response_format": {"type": "json_object"},
            "tool_choice": "required",
            "tools": OFFERED,
        },
    }


async def test_results_go_back_as_tool_messages_after_the_calls(
    fake: FakeUpstream, provider: QwenProvider
) -> None:
    fake.enqueue(wire.generation_reply(ANSWER))

    result = await provider.complete(following_up(MODEL))

    assert (result.text, result.finish_reason) == (ANSWER, "stop")
    assert fake.last.json["input"]["messages"][2:] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": PARIS.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": PARIS.arguments},
                },
                {
                    "id": ROME.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ROME.arguments},
                },
            ],
        },
        {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": PARIS.id},
        {"role": "tool", "content": '{"temp_c": 24}', "tool_call_id": ROME.id},
    ]


async def test_streamed_call_fragments_become_one_event_per_whole_call(
    fake: FakeUpstream, provider: QwenProvider
) -> None:
    fake.enqueue(
        wire.stream_reply(
            [],
            tool_calls=[
                (PARIS.id, PARIS.name, ['{"city": ', '"Paris"}']),
                (ROME.id, ROME.name, [ROME.arguments]),
            ],
        )
    )

    events = await collect(provider.stream(asking(MODEL)))

    assert events[:2] == [ToolCallReady(PARIS), ToolCallReady(ROME)]
    end = events[-1]
    assert isinstance(end, StreamEnd) and len(events) == 3
    assert (end.result.tool_calls, end.result.finish_reason) == ((PARIS, ROME), "tool_calls")


async def test_a_streamed_follow_up_answers_in_text(
    fake: FakeUpstream, provider: QwenProvider
) -> None:
    fake.enqueue(wire.stream_reply(ANSWER_PIECES))

    events = await collect(provider.stream(following_up(MODEL)))

    assert texts(events) == ANSWER_PIECES
    assert fake.last.json["input"]["messages"][3]["tool_call_id"] == PARIS.id


async def test_a_json_schema_is_refused_before_any_call(
    fake: FakeUpstream, provider: QwenProvider
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await provider.complete(
            asking(MODEL, response_format=ResponseFormat("json_schema", "w", WEATHER_SCHEMA))
        )

    assert caught.value.details == {"field": "response_format", "provider": "qwen"}
    assert fake.received == []
