"""Session memory rules of SPEC §4, as small pure functions.

The live window is every message after the summary's cut-off. When the live window plus the
new message passes either threshold, the oldest live messages except the last ``keep_recent``
are folded, with the previous summary, into a new summary. The token threshold counts only
the live window, never the system prompt or the summary, so a large system prompt cannot make
summarization fire on every turn.

Live-window tokens are tracked per session: after each call they are set from the provider's
reported input tokens minus an estimate of what was not window (system prompt and summary)
plus the reply's reported output tokens; before a call the new message's estimate is added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from src.domain.entities import Message
from src.domain.llm import ChatMessage, ChatRequest, ImagePart, TokenUsage
from src.domain.tokens import estimate_many, estimate_tokens

SUMMARY_HEADER = "Summary of the earlier conversation:\n"
SUMMARY_INSTRUCTIONS = (
    "You maintain the running summary of a conversation between a user and an assistant. "
    "Merge the previous summary (if any) with the new messages into one concise summary in "
    "plain prose. Keep names, numbers, decisions, open questions and the user's preferences; "
    "drop pleasantries. Reply with the summary only."
)


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    summarization_threshold: int = 20
    summary_token_threshold: int = 6000
    keep_recent: int = 6
    max_history: int = 50
    summary_provider: str | None = None
    summary_model: str | None = None
    lock_timeout_s: float = 60.0


def needs_summary(
    policy: MemoryPolicy, live_count: int, live_tokens: int, new_message: str, new_count: int = 1
) -> bool:
    """Whether the live window plus the new messages (``new_count`` of them, ``new_message``
    their text) passes either threshold."""
    if live_count + new_count > policy.summarization_threshold:
        return True
    limit = policy.summary_token_threshold
    return limit > 0 and live_tokens + estimate_tokens(new_message) > limit


def fold_upto(
    policy: MemoryPolicy,
    message_count: int,
    summary_through_seq: int,
    role_at: Callable[[int], str | None] = lambda seq: None,
) -> int | None:
    """The last sequence number to fold, or None when keep-recent leaves nothing to fold.

    The fold point moves back while the first message left live would be a tool result
    (``role_at(seq)`` tells a message's role), so an assistant's tool calls are never folded
    away from their results and the live window never begins with a result.
    """
    upto = message_count - policy.keep_recent
    while upto > summary_through_seq and role_at(upto + 1) == "tool":
        upto -= 1
    return upto if upto > summary_through_seq else None


def live_window(messages: Sequence[Message]) -> Sequence[Message]:
    """The window without leading tool results, whose calls were cut off by the cap."""
    start = 0
    while start < len(messages) and messages[start].role == "tool":
        start += 1
    return messages[start:]


def as_chat(message: Message) -> ChatMessage:
    """A stored message as context for a provider."""
    return ChatMessage(
        message.role,
        message.content,
        message.reasoning_content,
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id,
        name=message.tool_name,
        parts=message.parts,
    )


def _transcript_line(message: Message) -> str:
    """One message, readable in the summary prompt: tool exchanges said in words, images by a
    placeholder (a summary is text)."""
    images = sum(isinstance(p, ImagePart) for p in message.parts)
    text = message.content + " [image]" * images
    if message.role == "tool":
        return f"tool result ({message.tool_name or 'function'}): {text}"
    calls = "; ".join(f"called {c.name}({c.arguments})" for c in message.tool_calls)
    if calls:
        text = f"{text} [{calls}]" if text else f"[{calls}]"
    return f"{message.role}: {text}"


def summary_request(model: str, previous: str | None, folded: Sequence[Message]) -> ChatRequest:
    transcript = "\n".join(_transcript_line(m) for m in folded)
    parts = []
    if previous:
        parts.append(f"Previous summary:\n{previous}")
    parts.append(f"New messages:\n{transcript}")
    return ChatRequest(
        model=model,
        messages=(
            ChatMessage("system", SUMMARY_INSTRUCTIONS),
            ChatMessage("user", "\n\n".join(parts)),
        ),
        temperature=0.2,
    )


def accept_summary(candidate: str, previous: str | None, folded: Sequence[Message]) -> str | None:
    """The cleaned summary, or None when it is empty or not shorter than what it replaces."""
    text = candidate.strip()
    replaced = len(previous or "") + sum(len(m.content) for m in folded)
    if not text or len(text) >= replaced:
        return None
    return text


def build_context(
    system_prompt: str | None,
    summary: str | None,
    window: Sequence[Message],
    new: str | Sequence[ChatMessage],
    max_history: int,
) -> tuple[ChatMessage, ...]:
    """System prompt, summary as a system message, the capped live window (never starting
    with an orphan tool result), then the new messages (a text: one user message)."""
    context: list[ChatMessage] = []
    if system_prompt:
        context.append(ChatMessage("system", system_prompt))
    if summary:
        context.append(ChatMessage("system", SUMMARY_HEADER + summary))
    recent = live_window(window[-max_history:]) if max_history > 0 else ()
    context.extend(as_chat(m) for m in recent)
    context.extend((ChatMessage("user", new),) if isinstance(new, str) else new)
    return tuple(context)


def live_tokens_after_turn(context: Sequence[ChatMessage], usage: TokenUsage, reply: str) -> int:
    """Live-window tokens once the reply is stored, anchored on the provider's own counts."""
    system_estimate = estimate_many(m.content for m in context if m.role == "system")
    if usage.estimated:
        window = estimate_many(m.content for m in context if m.role != "system")
        return window + estimate_tokens(reply)
    return max(usage.input_tokens - system_estimate, 0) + usage.output_tokens


def estimate_window(messages: Sequence[Message]) -> int:
    return estimate_many(m.content for m in messages)
