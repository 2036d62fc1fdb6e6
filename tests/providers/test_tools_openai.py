"""Tools, structured output, options and images over the OpenAI protocol, for every vendor
that speaks it, through the real ``openai`` SDK against the wire fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from src.domain.errors import InvalidInput
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ForcedTool,
    ImagePart,
    ResponseFormat,
    StreamEnd,
    TextPart,
    ToolCallReady,
)
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.openai_compatible import OpenAICompatibleProvider
from src.infrastructure.llm_providers.registry import ProviderEntry
from tests.fakes import openai_wire as wire
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
from tests.providers.registered import entry

VENDORS = [entry(name) for name in ("openai", "grok", "deepseek", "kimi", "ollama")]
vendors = pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.SPEC.name)
Build = Callable[[ProviderEntry], OpenAICompatibleProvider]

OFFERED = OPENAI_TOOLS


@pytest.fixture
async def make(fake: FakeUpstream) -> AsyncIterator[Build]:
    built: list[OpenAICompatibleProvider] = []

    def build(vendor: ProviderEntry) -> OpenAICompatibleProvider:
        adapter = vendor.load()(vendor.SPEC, ProviderConfig(api_key="k", base_url=fake.url))
        assert isinstance(adapter, OpenAICompatibleProvider)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        await adapter.aclose()


def model(vendor: ProviderEntry) -> str:
    return vendor.SPEC.default_model


@vendors
async def test_a_call_is_asked_for_with_the_tools_offered(
    vendor: ProviderEntry, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(
        wire.chat_reply("", tool_calls=[(c.id, c.name, c.arguments) for c in (PARIS, ROME)])
    )

    result = await make(vendor).complete(asking(model(vendor)))

    assert result.tool_calls == (PARIS, ROME)
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    assert fake.last.json == {
        "model": model(vendor),
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
        ],
        "tools": OFFERED,
    }


@vendors
async def test_the_results_go_back_as_tool_messages_after_the_calls(
    vendor: ProviderEntry, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply(ANSWER))

    result = await make(vendor).complete(following_up(model(vendor)))

    assert (result.text, result.finish_reason, result.tool_calls) == (
        ANSWER,
        "stop",
        (),
    )
    assert fake.last.json["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_paris_01",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_rome_02",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": "call_paris_01"},
        {"role": "tool", "content": '{"temp_c": 24}', "tool_call_id": "call_rome_02"},
    ]
    assert fake.last.json["tools"] == OFFERED


@vendors
async def test_streamed_call_fragments_become_one_event_per_whole_call(
    vendor: ProviderEntry, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(
        wire.stream_reply(
            [],
            tool_calls=[
                (PARIS.id, PARIS.name, ['{"ci', 'ty": "Pa', 'ris"}']),
                (ROME.id, ROME.name, ['{"city": ', '"Rome"}']),
            ],
        )
    )

    events = await collect(make(vendor).stream(asking(model(vendor))))

    assert events[:2] == [ToolCallReady(PARIS), ToolCallReady(ROME)]
    end = events[-1]
    assert isinstance(end, StreamEnd) and len(events) == 3
    assert (end.result.tool_calls, end.result.finish_reason) == ((PARIS, ROME), "tool_calls")
    assert fake.last.json["stream"] is True and fake.last.json["tools"] == OFFERED


@vendors
async def test_a_streamed_follow_up_answers_in_text(
    vendor: ProviderEntry, make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.stream_reply(ANSWER_PIECES))

    events = await collect(make(vendor).stream(following_up(model(vendor))))

    assert texts(events) == ANSWER_PIECES
    assert fake.last.json["messages"][3] == {
        "role": "tool",
        "content": '{"temp_c": 18}',
        "tool_call_id": "call_paris_01",
    }


async def test_tool_choice_response_format_and_options_are_sent_by_their_openai_names(
    make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply('{"city": "Paris"}'))
    openai = entry("openai")
    request = asking(
        model(openai),
        tool_choice=ForcedTool("get_weather"),
        response_format=ResponseFormat("json_schema", "weather", WEATHER_SCHEMA, strict=True),
        options={"stop": ["\n\n"], "seed": 7, "top_p": 0.9, "user": "u-1"},
    )

    await make(openai).complete(request)

    sent = fake.last.json
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA, "strict": True},
    }
    assert (sent["stop"], sent["seed"], sent["top_p"], sent["user"]) == (["\n\n"], 7, 0.9, "u-1")


@pytest.mark.parametrize(
    ("vendor", "asked", "field"),
    [
        (
            "deepseek",
            {"response_format": ResponseFormat("json_schema", "w", WEATHER_SCHEMA)},
            "response_format",
        ),
        ("grok", {"options": {"stop": ["x"]}}, "stop"),
        ("deepseek", {"options": {"seed": 1}}, "seed"),
        ("kimi", {"tool_choice": "required"}, "tool_choice"),
        ("ollama", {"tool_choice": ForcedTool("get_weather")}, "tool_choice"),
        ("openai", {"options": {"n": 2}}, "n"),
    ],
)
async def test_what_a_vendor_cannot_honour_is_refused_before_any_call(
    vendor: str, asked: dict[str, object], field: str, make: Build, fake: FakeUpstream
) -> None:
    chosen = entry(vendor)

    with pytest.raises(InvalidInput) as caught:
        await make(chosen).complete(asking(model(chosen), **asked))
    with pytest.raises(InvalidInput):
        await collect(make(chosen).stream(asking(model(chosen), **asked)))

    assert caught.value.details == {"field": field, "provider": vendor}
    assert field in caught.value.message
    assert fake.received == []


async def test_images_become_image_url_parts_where_the_vendor_reads_them(
    make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply("A cat."))
    picture = ChatMessage(
        "user",
        "What is this?",
        parts=(
            TextPart("What is this?"),
            ImagePart("data:image/png;base64,iVBORw0KGgo=", detail="low"),
            ImagePart("https://example.com/cat.jpg"),
        ),
    )
    openai, deepseek = entry("openai"), entry("deepseek")

    await make(openai).complete(ChatRequest(model(openai), (picture,)))
    with pytest.raises(InvalidInput) as refused:
        await make(deepseek).complete(ChatRequest(model(deepseek), (picture,)))

    assert fake.last.json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }
    ]
    assert refused.value.details["field"] == "messages[0].content"
    assert len(fake.received) == 1


async def test_deepseek_gets_its_reasoning_back_only_with_an_answer_that_called_tools(
    make: Build, fake: FakeUpstream
) -> None:
    fake.enqueue(wire.chat_reply("Done."))
    deepseek = entry("deepseek")
    thought_calls = ChatMessage(
        "assistant", "", reasoning_content="Two cities.", tool_calls=(PARIS,)
    )
    plain = ChatMessage("assistant", "Hello.", reasoning_content="Greet back.")
    request = ChatRequest(
        model(deepseek),
        (ChatMessage("user", "Hi"), plain, ChatMessage("user", "Paris?"), thought_calls),
        tools=asking("m").tools,
    )

    await make(deepseek).complete(request)

    sent = fake.last.json["messages"]
    assert "reasoning_content" not in sent[1]
    assert sent[3]["reasoning_content"] == "Two cities."
