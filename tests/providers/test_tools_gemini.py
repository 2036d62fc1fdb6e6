"""Function calling, structured output, options and images over Gemini's API, through the
real ``google-genai`` SDK against the wire fake. Gemini gives its calls no ids: the adapter
makes ours, and results are matched by order and name."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ForcedTool,
    ResponseFormat,
    StreamEnd,
    TextDelta,
    ToolCallReady,
)
from src.infrastructure.llm_providers.base import ProviderConfig
from src.infrastructure.llm_providers.gemini import GeminiProvider
from tests.fakes import gemini_wire as wire
from tests.fakes.upstream import FakeUpstream
from tests.providers.contract import collect
from tests.providers.exchange import (
    ANSWER,
    ANSWER_PIECES,
    CALLS,
    IMAGE_URL,
    PICTURE,
    QUESTION,
    RESULTS,
    SYSTEM,
    WEATHER_SCHEMA,
    asking,
    following_up,
    texts,
)
from tests.providers.registered import spec_of

MODEL = "gemini-3.8-flash"
SKIP = base64.b64encode(b"skip_thought_signature_validator").decode()
DECLARED = [
    {
        "functionDeclarations": [
            {
                "description": "Current weather of a city.",
                "name": "get_weather",
                "parameters_json_schema": WEATHER_SCHEMA,
            }
        ]
    }
]


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[GeminiProvider]:
    adapter = GeminiProvider(spec_of("gemini"), ProviderConfig(api_key="k", base_url=fake.url))
    yield adapter
    await adapter.aclose()


async def test_calls_get_ids_of_ours_and_the_tools_are_declared(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(
        wire.response(
            "", calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
        )
    )

    result = await provider.complete(asking(MODEL, tool_choice=ForcedTool("get_weather")))

    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "Rome"}'),
    ]
    ids = [c.id for c in result.tool_calls]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2
    assert (result.text, result.finish_reason) == ("", "tool_calls")  # Gemini said STOP
    sent = fake.last.json
    assert sent["tools"] == DECLARED
    assert sent["toolConfig"] == {
        "functionCallingConfig": {"allowedFunctionNames": ["get_weather"], "mode": "ANY"}
    }
    assert sent["contents"] == [{"parts": [{"text": "Weather in Paris and Rome?"}], "role": "user"}]


async def test_results_go_back_by_name_in_one_user_content_after_the_model_turn(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(wire.response(ANSWER))
    # A result without its name (as another provider's history may hold) is named by its call.
    unnamed = ChatMessage("tool", RESULTS[1].content, tool_call_id=RESULTS[1].tool_call_id)
    request = ChatRequest(MODEL, (SYSTEM, QUESTION, CALLS, RESULTS[0], unnamed))

    result = await provider.complete(request)

    assert (result.text, result.finish_reason) == (ANSWER, "stop")
    assert fake.last.json["contents"][1:] == [
        {
            "parts": [
                {
                    "functionCall": {"args": {"city": "Paris"}, "name": "get_weather"},
                    "thoughtSignature": SKIP,
                },
                {"functionCall": {"args": {"city": "Rome"}, "name": "get_weather"}},
            ],
            "role": "model",
        },
        {
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 24}}},
            ],
            "role": "user",
        },
    ]


async def test_streamed_call_parts_are_one_event_each(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(
        wire.stream(
            ["Checking. "],
            calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})],
        )
    )

    events = await collect(provider.stream(asking(MODEL)))

    assert events[0] == TextDelta("Checking. ")
    ready = [e.call for e in events if isinstance(e, ToolCallReady)]
    assert [c.arguments for c in ready] == ['{"city": "Paris"}', '{"city": "Rome"}']
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.result.tool_calls, end.result.finish_reason) == (tuple(ready), "tool_calls")
    assert fake.last.query == {"alt": "sse"} and fake.last.json["tools"] == DECLARED


async def test_a_streamed_follow_up_answers_in_text(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(wire.stream(ANSWER_PIECES))

    events = await collect(provider.stream(following_up(MODEL)))

    assert texts(events) == ANSWER_PIECES
    assert fake.last.json["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"


async def test_structured_output_options_and_images_in_geminis_names(
    fake: FakeUpstream, provider: GeminiProvider
) -> None:
    fake.enqueue(wire.response('{"city": "Paris"}'))
    request = ChatRequest(
        MODEL,
        (PICTURE,),
        response_format=ResponseFormat("json_schema", "city", WEATHER_SCHEMA),
        options={"stop": ["END"], "seed": 7, "top_p": 0.5, "logprobs": True, "top_logprobs": 2},
    )

    result = await provider.complete(request)

    assert result.text == '{"city": "Paris"}'
    sent = fake.last.json
    assert sent["contents"][0]["parts"] == [
        {"text": "What is this?"},
        # The SDK renames the part's fields but sends nested ones as given; Google's JSON
        # accepts both spellings of a field.
        {"inlineData": {"data": "iVBORw0KGgo=", "mime_type": "image/png"}},
        {"fileData": {"file_uri": IMAGE_URL, "mime_type": "image/jpeg"}},
    ]
    assert sent["generationConfig"] == {
        "maxOutputTokens": 4096,
        "responseJsonSchema": WEATHER_SCHEMA,
        "responseMimeType": "application/json",
        "stopSequences": ["END"],
        "seed": 7,
        "topP": 0.5,
        "responseLogprobs": True,
        "logprobs": 2,
    }
