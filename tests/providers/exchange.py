"""One tool exchange, in the domain's terms, that every protocol's tool tests send.

The user asks for the weather in two cities; the model calls ``get_weather`` twice in one
answer; both results come back; the model then answers in text.
"""

from __future__ import annotations

from collections.abc import Iterable

from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ImagePart,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolDefinition,
)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER = ToolDefinition("get_weather", "Current weather of a city.", WEATHER_SCHEMA)
PARIS = ToolCall("call_paris_01", "get_weather", '{"city": "Paris"}')
ROME = ToolCall("call_rome_02", "get_weather", '{"city": "Rome"}')
QUESTION = ChatMessage("user", "Weather in Paris and Rome?")
CALLS = ChatMessage("assistant", "", tool_calls=(PARIS, ROME))
RESULTS = (
    ChatMessage("tool", '{"temp_c": 18}', tool_call_id=PARIS.id, name=PARIS.name),
    ChatMessage("tool", '{"temp_c": 24}', tool_call_id=ROME.id, name=ROME.name),
)
SYSTEM = ChatMessage("system", "You are terse.")
#: The follow-up's answer, as a stream sends it.
ANSWER_PIECES = ["Paris 18°C, ", "Rome 24°C."]
ANSWER = "".join(ANSWER_PIECES)
#: ``WEATHER`` as OpenAI, Mistral and DashScope take it.
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city.",
            "parameters": WEATHER_SCHEMA,
        },
    }
]
DATA_URL = "data:image/png;base64,iVBORw0KGgo="
IMAGE_URL = "https://example.com/cat.jpg"
#: A question about two images: one inline, one by URL.
PICTURE = ChatMessage(
    "user",
    "What is this?",
    parts=(TextPart("What is this?"), ImagePart(DATA_URL), ImagePart(IMAGE_URL)),
)


def asking(model: str, **kwargs: object) -> ChatRequest:
    """The first call: the question, with the tool offered."""
    return ChatRequest(model, (SYSTEM, QUESTION), tools=(WEATHER,), **kwargs)  # type: ignore[arg-type]


def following_up(model: str) -> ChatRequest:
    """The follow-up: the question, both calls and both results."""
    return ChatRequest(model, (SYSTEM, QUESTION, CALLS, *RESULTS), tools=(WEATHER,))


def texts(events: Iterable[StreamEvent]) -> list[str]:
    """The text pieces a stream forwarded, in order."""
    return [e.text for e in events if isinstance(e, TextDelta)]
