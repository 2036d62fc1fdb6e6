"""Gives sessions a long stored history quickly, through the gateway's own unit of work.

Writing through ``SqlUnitOfWorkFactory`` (not hand-written SQL) keeps the rows exactly as
the gateway writes them. Each seeded session ends as the memory rules leave a long
conversation: everything but the last ``live`` messages folded into a summary, so the live
window (and so the context sent upstream) is the same whatever the stored history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from src.domain.accounting import new_id
from src.domain.entities import DEFAULT_OWNER, Message, SummaryVersion
from src.domain.memory import estimate_window
from src.infrastructure.persistence.databases import database_for
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory

SUMMARY = "The user asked many short questions about AI; each got a one-sentence answer."


def history(session_id: str, count: int) -> list[Message]:
    """``count`` alternating questions and answers, seq 1..count."""
    now = datetime.now(UTC)
    messages = []
    for seq in range(1, count + 1):
        asking = seq % 2 == 1
        messages.append(
            Message(
                id=new_id("msg"),
                session_id=session_id,
                seq=seq,
                role="user" if asking else "assistant",
                content=f"Question {seq // 2 + 1}: explain AI simply, in one sentence."
                if asking
                else "AI learns patterns from examples.",
                created_at=now,
                provider=None if asking else "openai",
                model=None if asking else "gpt-5.4-mini",
                input_tokens=None if asking else 40,
                output_tokens=None if asking else 8,
                cost=None if asking else Decimal("0.000066"),
            )
        )
    return messages


async def seed_history(database_url: str, session_ids: list[str], stored: int, live: int) -> None:
    """Stores ``stored`` messages in each session, all but the last ``live`` summarized."""
    database = database_for(database_url, pool_size=1)
    await database.open()
    units = SqlUnitOfWorkFactory(database)
    try:
        for session_id in session_ids:
            messages = history(session_id, stored)
            through = stored - live
            async with units() as uow:
                session = await uow.sessions.get(session_id, DEFAULT_OWNER)
                if session is None:
                    raise LookupError(f"no session {session_id}")
                await uow.messages.add_many(messages)
                if through > 0:
                    await uow.summaries.add(
                        SummaryVersion(
                            session_id=session_id,
                            version=session.summary_version + 1,
                            content=SUMMARY,
                            from_seq=1,
                            to_seq=through,
                            created_at=datetime.now(UTC),
                            provider="openai",
                            model="gpt-5.4-mini",
                        )
                    )
                    session.summary = SUMMARY
                    session.summary_through_seq = through
                    session.summary_version += 1
                session.message_count = stored
                session.live_tokens = estimate_window(messages[max(through, 0) :])
                await uow.sessions.update(session)
                await uow.commit()
    finally:
        await database.aclose()
