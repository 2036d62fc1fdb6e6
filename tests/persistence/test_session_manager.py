"""The real SessionManager on the real databases: concurrent turns and summarization."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.errors import InvalidInput
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    LLMProvider,
    ProviderSpec,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TokenUsage,
)
from src.domain.memory import SUMMARY_INSTRUCTIONS, MemoryPolicy
from src.domain.pricing import ModelPrice
from src.domain.session_manager import SessionManager
from src.domain.tokens import estimate_many, estimate_tokens
from src.domain.turns import TurnCommand
from src.infrastructure.persistence.locks import session_locks_for
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory


class EchoProvider:
    """Answers "reply to: <last user message>" after a short pause; summaries are short."""

    @property
    def spec(self) -> ProviderSpec:
        return ProviderSpec(
            name="echo", default_model="echo-1", models=("echo-1",), key_variable=None
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        await asyncio.sleep(0.01)
        if request.messages[0].content == SUMMARY_INSTRUCTIONS:
            text = "A short summary."
        else:
            text = f"reply to: {request.conversation[-1].content}"
        usage = TokenUsage(
            input_tokens=estimate_many(m.content for m in request.messages),
            output_tokens=estimate_tokens(text),
        )
        return ChatResult(text=text, model=request.model, usage=usage, finish_reason="stop")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        result = await self.complete(request)
        yield TextDelta(result.text)
        yield StreamEnd(result)

    async def aclose(self) -> None:
        return None


class OneProvider:
    default_provider = "echo"

    def __init__(self, provider: LLMProvider) -> None:
        self._provider = provider

    def get(self, name: str) -> LLMProvider:
        if name != "echo":
            raise InvalidInput(f"unknown provider {name!r}")
        return self._provider


class FixedPrices:
    def price_of(self, provider: str, model: str) -> ModelPrice | None:
        return ModelPrice(
            input=Decimal("0.15"), cached_input=Decimal("0.075"), output=Decimal("0.6")
        )


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def _manager(engine: AsyncEngine, policy: MemoryPolicy) -> SessionManager:
    return SessionManager(
        uow=SqlUnitOfWorkFactory(engine),
        providers=OneProvider(EchoProvider()),
        prices=FixedPrices(),
        locks=session_locks_for(engine),
        clock=WallClock(),
        policy=policy,
    )


async def test_concurrent_turns_on_one_session_store_each_reply_after_its_question(
    engine: AsyncEngine,
) -> None:
    manager = _manager(engine, MemoryPolicy(summarization_threshold=1000))
    session = await manager.create_session(user_id="user_123")

    await asyncio.gather(
        *(manager.run_turn(TurnCommand(f"question {i}", session_id=session.id)) for i in range(20))
    )

    history = await manager.history(session.id, limit=100, offset=0)
    messages = history.messages
    assert [m.seq for m in messages] == list(range(1, 41))
    for question, reply in zip(messages[::2], messages[1::2], strict=True):
        assert question.role == "user"
        assert reply.role == "assistant"
        assert reply.content == f"reply to: {question.content}"
    assert {m.content for m in messages[::2]} == {f"question {i}" for i in range(20)}
    assert (await manager.get_session(session.id)).message_count == 40


async def test_the_eleventh_turn_folds_the_oldest_messages_into_a_summary(
    engine: AsyncEngine,
) -> None:
    manager = _manager(engine, MemoryPolicy())
    session = await manager.create_session()

    results = [
        await manager.run_turn(TurnCommand(f"question {i}", session_id=session.id))
        for i in range(11)
    ]

    async with SqlUnitOfWorkFactory(engine)() as uow:
        summaries = await uow.summaries.all(session.id)
        totals = await uow.calls.totals(session.id)
    stored = await manager.get_session(session.id)
    assert [r.was_summarized for r in results] == [False] * 10 + [True]
    assert [(s.version, s.from_seq, s.to_seq) for s in summaries] == [(1, 1, 14)]
    assert (stored.summary, stored.summary_through_seq, stored.message_count) == (
        "A short summary.",
        14,
        22,
    )
    assert {(t.kind, t.calls) for t in totals} == {("turn", 11), ("summary", 1)}
