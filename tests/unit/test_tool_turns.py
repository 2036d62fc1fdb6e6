"""Tool exchanges held in server-side memory (SPEC §8): calls stored with the reply, results
continuing the session, summaries that never split a call from its result, and everything a
provider cannot honour refused before any call."""

from __future__ import annotations

from dataclasses import replace

import pytest

from src.domain.errors import InvalidInput
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    ForcedTool,
    ImagePart,
    ProviderSpec,
    ResponseFormat,
    TextPart,
    TokenUsage,
    ToolCall,
    ToolCallReady,
    ToolDefinition,
)
from src.domain.memory import MemoryPolicy
from src.domain.turns import Target, ToolResult, TurnCommand, TurnDone
from tests.unit.test_session_manager import World

WEATHER = ToolDefinition(
    "get_weather", "Weather in a city", {"type": "object", "properties": {"city": {}}}
)


def calls_weather(request: ChatRequest) -> ChatResult:
    """A model that asks for the weather until it has a tool result, then answers."""
    if request.messages[0].content.startswith("You maintain the running summary"):
        return ChatResult("summary of the trip", request.model, TokenUsage(50, 5))
    last = request.messages[-1]
    if last.role == "tool":
        return ChatResult(f"It is {last.content}.", request.model, TokenUsage(30, 5), "stop")
    call = ToolCall(f"call_{len(request.messages)}", "get_weather", '{"city": "Paris"}')
    return ChatResult("", request.model, TokenUsage(20, 8), "tool_calls", tool_calls=(call,))


def tool_world(policy: MemoryPolicy | None = None) -> World:
    w = World(policy)
    w.provider.script = calls_weather
    return w


async def test_a_reply_that_calls_a_tool_is_stored_with_its_calls() -> None:
    w = tool_world()
    result = await w.manager.run_turn(
        TurnCommand("weather in Paris?", tools=(WEATHER,), tool_choice="auto")
    )
    assert result.finish_reason == "tool_calls" and result.response == ""
    [call] = result.tool_calls
    assert (call.name, call.arguments) == ("get_weather", '{"city": "Paris"}')
    request = w.provider.requests[-1]
    assert request.tools == (WEATHER,) and request.tool_choice == "auto"
    stored = w.store.data.messages[result.session_id or ""]
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].tool_calls == (call,) and stored[1].finish_reason == "tool_calls"


async def test_tool_results_continue_the_session_and_reach_the_provider_after_their_call() -> None:
    w = tool_world()
    first = await w.manager.run_turn(TurnCommand("weather in Paris?", tools=(WEATHER,)))
    [call] = first.tool_calls
    second = await w.manager.run_turn(
        TurnCommand(
            "",
            session_id=first.session_id,
            tool_results=(ToolResult(call.id, "18 degrees"),),
            tools=(WEATHER,),
        )
    )
    assert second.response == "It is 18 degrees." and second.message_count == 4
    sent = w.provider.requests[-1].messages
    assert [(m.role, m.tool_call_id, m.name) for m in sent[-2:]] == [
        ("assistant", None, None),
        ("tool", call.id, "get_weather"),
    ]
    assert sent[-2].tool_calls == (call,)
    stored = w.messages(first.session_id or "")
    assert [role for _, role, _ in stored] == ["user", "assistant", "tool", "assistant"]


@pytest.mark.parametrize("answered_twice", [False, True])
async def test_a_result_for_an_unknown_or_answered_call_is_refused_before_any_call(
    answered_twice: bool,
) -> None:
    w = tool_world()
    first = await w.manager.run_turn(TurnCommand("weather?", tools=(WEATHER,)))
    call_id = first.tool_calls[0].id
    if answered_twice:
        await w.manager.run_turn(
            TurnCommand("", session_id=first.session_id, tool_results=(ToolResult(call_id, "x"),))
        )
    calls_before = len(w.provider.requests)
    unknown = call_id if answered_twice else "call_nope"
    with pytest.raises(InvalidInput) as refused:
        await w.manager.run_turn(
            TurnCommand("", session_id=first.session_id, tool_results=(ToolResult(unknown, "x"),))
        )
    assert refused.value.details["field"] == "tool_results[0].tool_call_id"
    assert len(w.provider.requests) == calls_before


LONG_QUESTION = "What is the weather in Paris today? I am planning a long walk by the river."


async def test_a_summary_never_folds_a_call_away_from_its_stored_result() -> None:
    """keep_recent=2 would leave the tool result as the first live message; the fold point
    moves back so the assistant's call stays live with its result."""
    w = tool_world(MemoryPolicy(summarization_threshold=3, keep_recent=2))
    first = await w.manager.run_turn(TurnCommand(LONG_QUESTION, tools=(WEATHER,)))
    sid = first.session_id or ""
    await w.manager.run_turn(
        TurnCommand("", session_id=sid, tool_results=(ToolResult(first.tool_calls[0].id, "sun"),))
    )
    # stored: user(1), assistant+call(2), tool(3), assistant(4); the next turn folds.
    await w.manager.run_turn(TurnCommand("and tomorrow?", session_id=sid, tools=(WEATHER,)))
    [summary] = w.store.data.summaries[sid]
    assert (summary.from_seq, summary.to_seq) == (1, 1)
    sent = [m for m in w.provider.requests[-1].messages if m.role != "system"]
    assert [m.role for m in sent[:2]] == ["assistant", "tool"]
    assert sent[0].tool_calls and sent[1].tool_call_id == sent[0].tool_calls[0].id


async def test_a_result_arriving_in_this_turn_keeps_its_call_out_of_the_summary() -> None:
    w = tool_world(MemoryPolicy(summarization_threshold=2, keep_recent=0))
    first = await w.manager.run_turn(TurnCommand(LONG_QUESTION, tools=(WEATHER,)))
    sid = first.session_id or ""
    # live: user(1), assistant+call(2); with the result this turn adds, 3 > 2 folds. Folding
    # up to 2 would leave the new result orphaned, so the fold point moves back to 1.
    await w.manager.run_turn(
        TurnCommand("", session_id=sid, tool_results=(ToolResult(first.tool_calls[0].id, "ok"),))
    )
    [summary] = w.store.data.summaries[sid]
    assert (summary.from_seq, summary.to_seq) == (1, 1)
    summary_prompt = next(
        r for r in w.provider.requests if r.messages[0].content.startswith("You maintain")
    )
    assert f"user: {LONG_QUESTION}" in summary_prompt.messages[1].content
    sent = w.provider.requests[-1].messages
    assert [m.role for m in sent if m.role != "system"] == ["assistant", "tool"]


async def test_the_summary_prompt_renders_tool_exchanges_and_images_readably() -> None:
    w = tool_world(MemoryPolicy(summarization_threshold=4, keep_recent=0))
    question = f"what is this? {LONG_QUESTION}"
    first = await w.manager.run_turn(
        TurnCommand(
            question,
            parts=(TextPart(question), ImagePart("https://example.test/cat.png")),
            tools=(WEATHER,),
        )
    )
    sid = first.session_id or ""
    call = first.tool_calls[0]
    await w.manager.run_turn(
        TurnCommand("", session_id=sid, tool_results=(ToolResult(call.id, "a cat"),))
    )
    await w.manager.run_turn(TurnCommand("thanks", session_id=sid))
    prompt = next(
        r for r in w.provider.requests if r.messages[0].content.startswith("You maintain")
    )
    text = prompt.messages[1].content
    assert f"user: {question} [image]" in text
    assert 'called get_weather({"city": "Paris"})' in text
    assert "tool result (get_weather): a cat" in text


async def test_a_streamed_tool_call_is_an_event_before_done_and_stored_once() -> None:
    w = tool_world()
    events = [e async for e in w.manager.stream_turn(TurnCommand("weather?", tools=(WEATHER,)))]
    calls = [e.call for e in events if isinstance(e, ToolCallReady)]
    done = events[-1]
    assert isinstance(done, TurnDone) and done.result.tool_calls == tuple(calls) and calls
    assert len(w.store.data.messages[done.result.session_id or ""]) == 2


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (TurnCommand("hi", tools=(WEATHER,)), "tools"),
        (TurnCommand("hi", tool_choice=ForcedTool("get_weather")), "tool_choice"),
        (TurnCommand("hi", response_format=ResponseFormat("json_object")), "response_format"),
        (TurnCommand("hi", parts=(ImagePart("data:image/png;base64,AAAA"),)), "content_parts"),
        (TurnCommand("hi", options=(("logprobs", True),)), "logprobs"),
    ],
)
async def test_what_a_provider_cannot_honour_is_refused_naming_the_field(
    command: TurnCommand, field: str
) -> None:
    w = World()
    plain = ProviderSpec("other", "other-1", ("other-1",), "OTHER_API_KEY")
    w.other._spec = plain  # a provider with chat and streaming only
    with pytest.raises(InvalidInput) as refused:
        await w.manager.run_turn(replace(command, target=Target("other")))
    assert refused.value.details["field"] == field
    assert w.other.requests == [] and w.store.data.sessions == {}


async def test_options_a_provider_declares_are_passed_through() -> None:
    w = World()
    await w.manager.run_turn(TurnCommand("hi", options=(("stop", ["\n"]), ("seed", 7))))
    assert dict(w.provider.requests[-1].options) == {"stop": ["\n"], "seed": 7}


async def test_a_turn_with_neither_message_nor_results_is_refused() -> None:
    w = World()
    with pytest.raises(InvalidInput):
        await w.manager.run_turn(TurnCommand(""))
    assert w.provider.requests == []
