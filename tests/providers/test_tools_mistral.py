"""Tools, structured output, options and images over Mistral's chat API, through the real
``mistralai`` SDK against the wire fake. Mistral's call ids are nine characters: another
provider's ids are mapped the same way in a call and in its result."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ImagePart,
    ResponseFormat,
    StreamEnd,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallReady,
)
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.mistral import MistralProvider, mistral_id
from tests.fakes import mistral_wire as wire
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

MODEL = "mistral-small-2603"
OFFERED = OPENAI_TOOLS
THEIRS = [
    ("D681PevKs", "get_weather", '{"city": "Paris"}'),
    ("x0Hb3Lq9Z", "get_weather", '{"city": "Rome"}'),
]


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[MistralProvider]:
    adapter = MistralProvider(spec_of("mistral"), ProviderConfig(api_key="k", base_url=fake.url))
    yield adapter
    await adapter.aclose()


def test_other_ids_map_to_nine_characters_the_same_way_every_time() -> None:
    mapped = mistral_id(PARIS.id)
    assert len(mapped) == 9 and mapped.isalnum()
    assert mistral_id(PARIS.id) == mapped != mistral_id(ROME.id)
    assert mistral_id("D681PevKs") == "D681PevKs"


async def test_a_call_is_asked_for_with_the_tools_offered(
    fake: FakeUpstream, provider: MistralProvider
) -> None:
    fake.enqueue(wire.chat_reply("", tool_calls=THEIRS))

    result = await provider.complete(asking(MODEL, tool_choice="required"))

    assert result.tool_calls == tuple(ToolCall(*call) for call in THEIRS)
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    sent = fake.last.json
    assert (sent["tools"], sent["tool_choice"]) == (OFFERED, "required")
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
    ]


async def test_results_go_back_with_the_calls_ids_mapped_alike(
    fake: FakeUpstream, provider: MistralProvider
) -> None:
    fake.enqueue(wire.chat_reply(ANSWER))

    result = await provider.complete(following_up(MODEL))

    assert (result.text, result.finish_reason) == (ANSWER, "stop")
    paris, rome = mistral_id(PARIS.id), mistral_id(ROME.id)
    assert fake.last.json["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": paris,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    "index": 0,
                },
                {
                    "id": rome,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    "index": 1,
                },
            ],
            "prefix": False,
        },
        {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": paris, "name": "get_weather"},
        {"role": "tool", "content": '{"temp_c": 24}', "tool_call_id": rome, "name": "get_weather"},
    ]


async def test_streamed_calls_are_one_event_each(
    fake: FakeUpstream, provider: MistralProvider
) -> None:
    fake.enqueue(wire.stream_reply(["Checking."], tool_calls=THEIRS))

    events = await collect(provider.stream(asking(MODEL)))

    calls = tuple(ToolCall(*call) for call in THEIRS)
    assert events == [
        TextDelta("Checking."),
        ToolCallReady(calls[0]),
        ToolCallReady(calls[1]),
        events[-1],
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.tool_calls, end.result.finish_reason) == (calls, "tool_calls")


async def test_a_streamed_follow_up_answers_in_text(
    fake: FakeUpstream, provider: MistralProvider
) -> None:
    fake.enqueue(wire.stream_reply(ANSWER_PIECES))

    events = await collect(provider.stream(following_up(MODEL)))

    assert texts(events) == ANSWER_PIECES
    assert fake.last.json["messages"][3]["tool_call_id"] == mistral_id(PARIS.id)


async def test_structured_output_options_and_images_in_mistrals_names(
    fake: FakeUpstream, provider: MistralProvider
) -> None:
    fake.enqueue(wire.chat_reply('{"city": "Paris"}'))
    picture = ChatMessage(
        "user",
        "Which city?",
        parts=(TextPart("Which city?"), ImagePart("https://example.com/paris.jpg")),
    )
    request = ChatRequest(
        MODEL,
        (picture,),
        response_format=ResponseFormat("json_schema", "city", WEATHER_SCHEMA, strict=True),
        options={"stop": ["END"], "seed": 7, "parallel_tool_calls": False},
    )

    await provider.complete(request)

    sent = fake.last.json
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "Which city?"},
        {"type": "image_url", "image_url": "https://example.com/paris.jpg"},
    ]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": WEATHER_SCHEMA, "strict": True},
    }
    assert (sent["stop"], sent["random_seed"], sent["parallel_tool_calls"]) == (["END"], 7, False)
