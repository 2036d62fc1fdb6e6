"""What a finished or failed turn stores and answers, decided by pure functions.

A turn that answered stores its question and reply, the session's new counters and summary,
every call record (the summary call, failed attempts, the answering call) and, with an
idempotency key, the reply to replay. A turn that failed stores only its call records: money
was spent (a summary, failed attempts), yet memory stays exactly as it was. A failed first turn
creates no session, so its records then belong to none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from src.domain.accounting import new_id
from src.domain.entities import CallRecord, Message, Session, SummaryVersion
from src.domain.llm import ChatMessage
from src.domain.memory import live_tokens_after_turn
from src.domain.provider_chain import Answer
from src.domain.turns import TurnCommand, TurnResult


@dataclass(slots=True)
class LoadedTurn:
    """What a turn knows once memory is loaded and, if needed, summarized.

    ``session`` is None for a stateless turn (the caller sent the whole conversation).
    """

    session: Session | None
    is_new: bool
    window: list[Message]
    received_at: datetime
    context: tuple[ChatMessage, ...] = ()
    added: tuple[ChatMessage, ...] = ()  # what the turn adds: tool results, the user message
    new_summary: SummaryVersion | None = None
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def session_id(self) -> str | None:
        return None if self.session is None else self.session.id


@dataclass(frozen=True, slots=True)
class IdempotentReply:
    owner: str
    key: str
    fingerprint: str
    session_id: str
    reply: TurnResult


@dataclass(frozen=True, slots=True)
class Settlement:
    """Everything one turn writes, in one transaction."""

    calls: tuple[CallRecord, ...]
    session: Session | None = None
    is_new: bool = False
    messages: tuple[Message, ...] = ()
    summary: SummaryVersion | None = None
    idempotency: IdempotentReply | None = None
    result: TurnResult | None = None


def settle_failure(cmd: TurnCommand, turn: LoadedTurn) -> Settlement:
    """Only the call records; detached from a session this turn would have created."""
    calls = _owned(turn.calls, cmd)
    if turn.is_new:
        calls = [replace(c, session_id=None) for c in calls]
    return Settlement(calls=tuple(calls))


def _owned(calls: Sequence[CallRecord], cmd: TurnCommand) -> list[CallRecord]:
    """The calls, marked with the tenant and key that made them."""
    return [replace(call, tenant=cmd.owner, key_id=cmd.principal.key_id) for call in calls]


def settle_answer(
    cmd: TurnCommand,
    turn: LoadedTurn,
    answer: Answer,
    turn_call: CallRecord,
    *,
    now: datetime,
    elapsed_s: float,
    make_id: Callable[[str], str] | None = None,
) -> Settlement:
    """The answered turn: what it added, the reply, the updated session, the summary and
    every call. ``make_id`` names the new messages (default: ``new_id``)."""
    make_id = make_id or new_id
    result = answer.result
    usage = result.usage
    summary_calls = [c for c in turn.calls if c.kind == "summary" and c.ok]
    calls = tuple(_owned([*turn.calls, turn_call], cmd))
    session = turn.session
    if session is None:
        return Settlement(calls=calls, result=_result(None, answer, turn_call, now, elapsed_s))
    session = replace(session, metadata=dict(session.metadata))
    seq = session.message_count
    added = [
        Message(
            make_id("msg"),
            session.id,
            seq + offset,
            m.role,  # type: ignore[arg-type]  # tool results and the user message
            m.content,
            turn.received_at,
            tool_call_id=m.tool_call_id,
            tool_name=m.name,
            parts=m.parts,
        )
        for offset, m in enumerate(turn.added, start=1)
    ]
    reply = Message(
        make_id("msg"),
        session.id,
        seq + len(added) + 1,
        "assistant",
        result.text,
        now,
        provider=answer.provider,
        model=answer.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost=turn_call.cost,
        reasoning_content=result.reasoning_content,
        interrupted=answer.interrupted,
        tool_calls=result.tool_calls,
        finish_reason=result.finish_reason,
    )
    if turn.new_summary is not None:
        session.summary = turn.new_summary.content
        session.summary_through_seq = turn.new_summary.to_seq
        session.summary_version = turn.new_summary.version
    session.message_count += len(added) + 1
    session.updated_at = now
    session.live_tokens = live_tokens_after_turn(turn.context, usage, result.text)
    summarized = turn.new_summary is not None
    reply_out = _result(session, answer, turn_call, now, elapsed_s, summary_calls, summarized)
    idempotency = None
    if cmd.idempotency_key is not None:
        idempotency = IdempotentReply(
            cmd.owner, cmd.idempotency_key, cmd.fingerprint(), session.id, reply_out
        )
    return Settlement(
        calls=calls,
        session=session,
        is_new=turn.is_new,
        messages=(*added, reply),
        summary=turn.new_summary,
        idempotency=idempotency,
        result=reply_out,
    )


def _result(
    session: Session | None,
    answer: Answer,
    turn_call: CallRecord,
    now: datetime,
    elapsed_s: float,
    summary_calls: list[CallRecord] | None = None,
    summarized: bool = False,
) -> TurnResult:
    """The reply to the caller; ``session`` as the turn leaves it (None: stateless, which
    never folds a summary)."""
    summary_calls = summary_calls or []
    summary_cost: Decimal | None = Decimal(0)
    for call in summary_calls:
        summary_cost = (
            None if summary_cost is None or call.cost is None else summary_cost + call.cost
        )
    return TurnResult(
        response=answer.result.text,
        provider=answer.provider,
        model=answer.model,
        session_id=None if session is None else session.id,
        message_count=0 if session is None else session.message_count,
        timestamp=now,
        execution_time=elapsed_s,
        usage=answer.result.usage,
        cost=turn_call.cost,
        was_summarized=summarized,
        summary_tokens=sum(c.usage.total_tokens for c in summary_calls),
        summary_cost=summary_cost,
        fallback_from=answer.fallback_from,
        reasoning_content=answer.result.reasoning_content,
        interrupted=answer.interrupted,
        tool_calls=answer.result.tool_calls,
        finish_reason=answer.result.finish_reason,
    )
