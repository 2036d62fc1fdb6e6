"""What a turn adds to the conversation, and what the chosen providers must be able to do.

A turn adds the client's tool results (each answering a call of the session's last reply) and
its user message; either may be absent, not both. A result must answer a call that the last
reply made and that no result answered yet, so memory never holds an orphan or a duplicate.

What the chain's providers must be able to do is checked by ``capabilities`` on a probe
request (:func:`probe_request`) before anything is loaded or called.
"""

from __future__ import annotations

from collections.abc import Sequence

from src.domain.entities import Message
from src.domain.errors import InvalidInput
from src.domain.llm import ChatMessage, ChatRequest
from src.domain.turns import TurnCommand


def new_messages(cmd: TurnCommand, window: Sequence[Message]) -> tuple[ChatMessage, ...]:
    """The tool results, then the user message, as context; validated against ``window``."""
    added: list[ChatMessage] = []
    if cmd.tool_results:
        pending = _pending_calls(window)
        seen: set[str] = set()
        for index, result in enumerate(cmd.tool_results):
            name = pending.get(result.tool_call_id)
            if name is None or result.tool_call_id in seen:
                raise InvalidInput(
                    f"tool_results[{index}].tool_call_id {result.tool_call_id!r} answers no "
                    "open tool call of this session's last reply",
                    details={"field": f"tool_results[{index}].tool_call_id"},
                )
            seen.add(result.tool_call_id)
            added.append(
                ChatMessage("tool", result.content, tool_call_id=result.tool_call_id, name=name)
            )
    if cmd.message or cmd.parts:
        added.append(ChatMessage("user", cmd.message, parts=cmd.parts))
    if not added:
        raise InvalidInput(
            "message: a turn needs a message or tool_results", details={"field": "message"}
        )
    return tuple(added)


def _pending_calls(window: Sequence[Message]) -> dict[str, str]:
    """Call id -> function name, for the calls of the last reply that await a result."""
    for position in range(len(window) - 1, -1, -1):
        message = window[position]
        if message.role == "assistant":
            answered = {m.tool_call_id for m in window[position + 1 :] if m.role == "tool"}
            return {c.id: c.name for c in message.tool_calls if c.id not in answered}
    return {}


def probe_request(cmd: TurnCommand) -> ChatRequest:
    """A request asking for everything the turn asks of a provider (tools, structured output,
    options, the images it sends), for the capability check before any call."""
    messages = cmd.transcript or (ChatMessage("user", cmd.message, parts=cmd.parts),)
    return ChatRequest(
        model="",
        messages=messages,
        tools=cmd.tools,
        tool_choice=cmd.tool_choice,
        response_format=cmd.response_format,
        options=dict(cmd.options),
    )
