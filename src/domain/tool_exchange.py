"""What a turn adds to the conversation, and what the chosen providers must be able to do.

A turn adds the client's tool results (each answering a call of the session's last reply) and
its user message; either may be absent, not both. A result must answer a call that the last
reply made and that no result answered yet, so memory never holds an orphan or a duplicate.

Tools, structured output, images and further options are refused before any call when a
provider of the chain cannot honour them: nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from src.domain.entities import Message
from src.domain.errors import InvalidInput
from src.domain.llm import ChatMessage, ImagePart, ProviderSpec
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


def check_capabilities(cmd: TurnCommand, specs: Sequence[ProviderSpec]) -> None:
    """Refuses what a provider of the chain cannot do, naming the field."""
    asked: list[tuple[str, str]] = []  # (field, capability)
    if cmd.tools or cmd.tool_choice is not None:
        asked.append(("tools", "tools"))
    if cmd.response_format is not None:
        asked.append(("response_format", cmd.response_format.type))
    messages = cmd.transcript or ()
    if any(isinstance(p, ImagePart) for p in cmd.parts) or any(m.images for m in messages):
        asked.append(("content_parts", "vision"))
    for spec in specs:
        for field, capability in asked:
            if capability not in spec.capabilities:
                _refuse(field, f"provider {spec.name!r} cannot honour it", spec)
        for option, _ in cmd.options:
            if option not in spec.options:
                _refuse(option, f"provider {spec.name!r} does not support this parameter", spec)


def _refuse(field: str, reason: str, spec: ProviderSpec) -> None:
    raise InvalidInput(f"{field}: {reason}", details={"field": field, "provider": spec.name})
