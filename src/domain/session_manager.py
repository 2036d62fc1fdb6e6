"""The session manager: runs turns with server-side memory (SPEC §4) and keeps sessions.

A turn, in order: replay it if its idempotency key was answered before; hold the session's
lock; load the session row and its live window; fold old messages into the running summary
when a threshold is passed; call the provider (then each fallback on 502/503/504-class
failures); write both messages, the summary version and every call record in one
transaction. A failed turn writes only its call records, so metrics still count it, and
leaves memory exactly as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from src.domain.accounting import CallAccountant, new_id
from src.domain.entities import (
    DEFAULT_OWNER,
    CallRecord,
    Message,
    Session,
    SummaryVersion,
)
from src.domain.errors import (
    IdempotencyConflict,
    ProviderError,
    ProviderNotConfigured,
    ProviderRejectedRequest,
    SessionNotFound,
)
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    LLMProvider,
    StreamEnd,
    TextDelta,
    close_stream,
)
from src.domain.memory import (
    MemoryPolicy,
    accept_summary,
    build_context,
    fold_upto,
    live_tokens_after_turn,
    needs_summary,
    summary_request,
)
from src.domain.metrics import GlobalUsage, SessionMetrics, provider_usage, session_metrics
from src.domain.ports import (
    CallObserver,
    Clock,
    PriceBook,
    ProviderDirectory,
    SessionLocks,
    UnitOfWorkFactory,
)
from src.domain.tokens import estimated_usage
from src.domain.turns import (
    HistoryPage,
    SessionOpened,
    Target,
    TurnCommand,
    TurnDone,
    TurnEvent,
    TurnResult,
)


@dataclass(slots=True)
class _Prepared:
    """What a turn knows once memory is loaded and, if needed, summarized."""

    session: Session
    is_new: bool
    window: list[Message]
    received_at: datetime
    context: tuple[ChatMessage, ...] = ()
    new_summary: SummaryVersion | None = None
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def summary_calls(self) -> list[CallRecord]:
        return [c for c in self.calls if c.kind == "summary" and c.ok]


@dataclass(frozen=True, slots=True)
class _Route:
    """A target with its provider resolved."""

    provider: str
    model: str | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    provider: str
    model: str
    result: ChatResult
    started: float
    fallback_from: str | None
    interrupted: bool = False


class SessionManager:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        providers: ProviderDirectory,
        prices: PriceBook,
        locks: SessionLocks,
        clock: Clock,
        policy: MemoryPolicy,
        observer: CallObserver | None = None,
    ) -> None:
        self._uow = uow
        self._providers = providers
        self._accounts = CallAccountant(prices, clock, observer)
        self._locks = locks
        self._clock = clock
        self._policy = policy

    # -- sessions -------------------------------------------------------------------------

    async def create_session(
        self,
        *,
        owner: str = DEFAULT_OWNER,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        system_prompt: str | None = None,
    ) -> Session:
        now = self._clock.now()
        session = Session(
            id=new_id("sess"),
            created_at=now,
            updated_at=now,
            owner=owner,
            user_id=user_id,
            metadata=dict(metadata or {}),
            system_prompt=system_prompt,
        )
        async with self._uow() as uow:
            await uow.sessions.add(session)
            await uow.commit()
        return session

    async def get_session(self, session_id: str, owner: str = DEFAULT_OWNER) -> Session:
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, owner)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    async def list_sessions(
        self, *, owner: str = DEFAULT_OWNER, user_id: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Session], int]:
        async with self._uow() as uow:
            sessions = await uow.sessions.list(owner, user_id, limit, offset)
            total = await uow.sessions.count(owner, user_id)
        return sessions, total

    async def delete_session(self, session_id: str, owner: str = DEFAULT_OWNER) -> None:
        """Deletes once no turn is running on the session, so no turn writes after it."""
        async with (
            self._locks.hold(session_id, self._policy.lock_timeout_s),
            self._uow() as uow,
        ):
            deleted = await uow.sessions.delete(session_id, owner)
            await uow.commit()
        if not deleted:
            raise SessionNotFound(session_id)

    async def history(
        self, session_id: str, *, owner: str = DEFAULT_OWNER, limit: int, offset: int
    ) -> HistoryPage:
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, owner)
            if session is None:
                raise SessionNotFound(session_id)
            messages = await uow.messages.page(session_id, limit, offset)
        total = session.message_count
        return HistoryPage(
            session_id=session_id,
            messages=tuple(messages),
            summary=session.summary,
            total=total,
            has_more=offset + len(messages) < total,
        )

    async def session_metrics(self, session_id: str, owner: str = DEFAULT_OWNER) -> SessionMetrics:
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id, owner)
            if session is None:
                raise SessionNotFound(session_id)
            totals = await uow.calls.totals(session_id)
            summaries = await uow.summaries.all(session_id)
        last_summary_at = summaries[-1].created_at if summaries else None
        return session_metrics(session, totals, last_summary_at)

    async def global_usage(self) -> GlobalUsage:
        async with self._uow() as uow:
            totals = await uow.calls.totals(None)
            stats = await uow.sessions.stats(None)
        return GlobalUsage(providers=provider_usage(totals), sessions=stats)

    # -- turns ----------------------------------------------------------------------------

    async def run_turn(self, cmd: TurnCommand) -> TurnResult:
        started = self._clock.monotonic()
        if (replay := await self._replay(cmd)) is not None:
            return replay
        targets = self._targets(cmd)
        async with self._hold(cmd.session_id):
            if (replay := await self._replay(cmd)) is not None:
                return replay
            prepared = await self._prepare(cmd, targets[0])
            answer = await self._call(targets, prepared, cmd)
            return await self._commit(cmd, prepared, answer, started)

    async def stream_turn(self, cmd: TurnCommand) -> AsyncIterator[TurnEvent]:
        """A turn whose reply is forwarded as it is generated.

        Fallbacks are tried only until the first piece of text has been forwarded. If the
        consumer goes away mid-stream, the upstream call is cancelled and the partial reply is
        stored, marked interrupted, with estimated usage.
        """
        started = self._clock.monotonic()
        if (replay := await self._replay(cmd)) is not None:
            for replayed in _as_stream(replay):
                yield replayed
            return
        targets = self._targets(cmd)
        async with self._hold(cmd.session_id):
            if (replay := await self._replay(cmd)) is not None:
                for replayed in _as_stream(replay):
                    yield replayed
                return
            prepared = await self._prepare(cmd, targets[0])
            yield SessionOpened(prepared.session.id)
            answer: _Answer | None = None
            for index, target in enumerate(targets):
                provider, model = self._provider_and_model(target)
                request = self._request(cmd, model, prepared.context)
                fallback_from = targets[0].provider if index else None
                parts: list[str] = []
                call_started = self._clock.monotonic()
                events = provider.stream(request)
                try:
                    async for event in events:
                        if isinstance(event, TextDelta):
                            parts.append(event.text)
                            yield event
                        elif isinstance(event, StreamEnd):
                            answer = _Answer(
                                target.provider,
                                model,
                                event.result,
                                call_started,
                                fallback_from,
                            )
                except ProviderError as error:
                    prepared.calls.append(
                        self._accounts.failed(
                            prepared.session.id, "turn", target.provider, model, error, call_started
                        )
                    )
                    if parts or not self._may_fall_back(error, index, targets):
                        await self._record_failure(prepared)
                        raise
                    continue
                except (GeneratorExit, asyncio.CancelledError):
                    partial = _Answer(
                        target.provider,
                        model,
                        _interrupted_result(request, "".join(parts)),
                        call_started,
                        fallback_from,
                        interrupted=True,
                    )
                    await asyncio.shield(self._commit(cmd, prepared, partial, started))
                    raise
                finally:
                    await close_stream(events)
                break
            if answer is None:  # pragma: no cover - adapters always end with StreamEnd
                raise ProviderError(targets[-1].provider, "the stream ended without a result")
            yield TurnDone(await self._commit(cmd, prepared, answer, started))

    # -- the steps of a turn ----------------------------------------------------------------

    async def _replay(self, cmd: TurnCommand) -> TurnResult | None:
        if cmd.idempotency_key is None:
            return None
        async with self._uow() as uow:
            stored = await uow.idempotency.get(cmd.owner, cmd.idempotency_key)
        if stored is None:
            return None
        fingerprint, reply = stored
        if fingerprint != cmd.fingerprint():
            raise IdempotencyConflict(cmd.idempotency_key)
        return TurnResult.from_record(reply)

    def _targets(self, cmd: TurnCommand) -> list[_Route]:
        """The provider chain, checked before anything is loaded or created."""
        default = self._providers.default_provider
        routes = [
            _Route(t.provider or default, t.model) for t in (cmd.target or Target(), *cmd.fallbacks)
        ]
        self._providers.get(routes[0].provider)
        for fallback in routes[1:]:
            with contextlib.suppress(ProviderNotConfigured):
                self._providers.get(fallback.provider)
        return routes

    def _hold(self, session_id: str | None) -> AbstractAsyncContextManager[None]:
        if session_id is None:  # a session created by this turn is unknown to anyone else
            return contextlib.nullcontext()
        return self._locks.hold(session_id, self._policy.lock_timeout_s)

    def _provider_and_model(self, target: _Route) -> tuple[LLMProvider, str]:
        provider = self._providers.get(target.provider)
        return provider, target.model or provider.spec.default_model

    async def _prepare(self, cmd: TurnCommand, primary: _Route) -> _Prepared:
        policy = self._policy
        now = self._clock.now()
        if cmd.session_id is None:
            session = Session(id=new_id("sess"), created_at=now, updated_at=now, owner=cmd.owner)
            prepared = _Prepared(session, is_new=True, window=[], received_at=now)
        else:
            async with self._uow() as uow:
                found = await uow.sessions.get(cmd.session_id, cmd.owner)
                if found is None:
                    raise SessionNotFound(cmd.session_id)
                window = await uow.messages.tail(
                    found.id, found.summary_through_seq, policy.max_history
                )
            prepared = _Prepared(found, is_new=False, window=list(window), received_at=now)
        session = prepared.session
        if needs_summary(policy, session.live_count, session.live_tokens, cmd.message):
            await self._fold(prepared, primary)
        summary = prepared.new_summary.content if prepared.new_summary else session.summary
        prepared.context = build_context(
            cmd.system_prompt or session.system_prompt,
            summary,
            prepared.window,
            cmd.message,
            policy.max_history,
        )
        return prepared

    async def _fold(self, prepared: _Prepared, primary: _Route) -> None:
        """Folds the oldest live messages into a new summary; on any failure, changes nothing."""
        session = prepared.session
        upto = fold_upto(self._policy, session.message_count, session.summary_through_seq)
        if upto is None:
            return
        first = session.summary_through_seq + 1
        folded = [m for m in prepared.window if m.seq <= upto]
        if not folded or folded[0].seq != first:  # the window did not reach back that far
            async with self._uow() as uow:
                folded = list(await uow.messages.between(session.id, first, upto))
        target = self._summary_target(primary)
        model = target.model or ""
        started = self._clock.monotonic()
        try:
            provider, model = self._provider_and_model(target)
            result = await provider.complete(summary_request(model, session.summary, folded))
        except ProviderError as error:
            prepared.calls.append(
                self._accounts.failed(
                    prepared.session.id, "summary", target.provider, model, error, started
                )
            )
            return
        prepared.calls.append(
            self._accounts.succeeded(
                prepared.session.id, "summary", target.provider, model, result.usage, started
            )
        )
        text = accept_summary(result.text, session.summary, folded)
        if text is None:
            return
        prepared.new_summary = SummaryVersion(
            session_id=session.id,
            version=session.summary_version + 1,
            content=text,
            from_seq=first,
            to_seq=upto,
            created_at=self._clock.now(),
            provider=target.provider,
            model=model,
        )
        prepared.window = [m for m in prepared.window if m.seq > upto]

    def _summary_target(self, primary: _Route) -> _Route:
        policy = self._policy
        if policy.summary_provider is None or policy.summary_provider == primary.provider:
            return _Route(primary.provider, policy.summary_model or primary.model)
        return _Route(policy.summary_provider, policy.summary_model)

    def _request(
        self, cmd: TurnCommand, model: str, context: tuple[ChatMessage, ...]
    ) -> ChatRequest:
        return ChatRequest(
            model=model, messages=context, temperature=cmd.temperature, max_tokens=cmd.max_tokens
        )

    async def _call(self, targets: list[_Route], prepared: _Prepared, cmd: TurnCommand) -> _Answer:
        for index, target in enumerate(targets):
            model = target.model or ""
            started = self._clock.monotonic()
            try:
                provider, model = self._provider_and_model(target)
                result = await provider.complete(self._request(cmd, model, prepared.context))
            except ProviderError as error:
                prepared.calls.append(
                    self._accounts.failed(
                        prepared.session.id, "turn", target.provider, model, error, started
                    )
                )
                if not self._may_fall_back(error, index, targets):
                    await self._record_failure(prepared)
                    raise
                continue
            fallback_from = targets[0].provider if index else None
            return _Answer(target.provider, model, result, started, fallback_from)
        raise AssertionError("unreachable: the last target re-raises")  # pragma: no cover

    @staticmethod
    def _may_fall_back(error: ProviderError, index: int, targets: list[_Route]) -> bool:
        return index + 1 < len(targets) and not isinstance(error, ProviderRejectedRequest)

    async def _record_failure(self, prepared: _Prepared) -> None:
        """Keeps the accounting of a failed turn (a summary call costs money even so).

        A failed first turn creates no session, so its records then belong to none.
        """
        async with self._uow() as uow:
            for call in prepared.calls:
                await uow.calls.add(replace(call, session_id=None) if prepared.is_new else call)
            await uow.commit()

    async def _commit(
        self, cmd: TurnCommand, prepared: _Prepared, answer: _Answer, started: float
    ) -> TurnResult:
        session = prepared.session
        now = self._clock.now()
        usage = answer.result.usage
        turn_call = self._accounts.succeeded(
            session.id, "turn", answer.provider, answer.model, usage, answer.started
        )
        question = Message(
            id=new_id("msg"),
            session_id=session.id,
            seq=session.message_count + 1,
            role="user",
            content=cmd.message,
            created_at=prepared.received_at,
        )
        reply = Message(
            id=new_id("msg"),
            session_id=session.id,
            seq=session.message_count + 2,
            role="assistant",
            content=answer.result.text,
            created_at=now,
            provider=answer.provider,
            model=answer.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=turn_call.cost,
            reasoning_content=answer.result.reasoning_content,
            interrupted=answer.interrupted,
        )
        if prepared.new_summary is not None:
            session.summary = prepared.new_summary.content
            session.summary_through_seq = prepared.new_summary.to_seq
            session.summary_version = prepared.new_summary.version
        session.message_count += 2
        session.updated_at = now
        session.live_tokens = live_tokens_after_turn(prepared.context, usage, answer.result.text)
        summary_calls = prepared.summary_calls
        summary_cost: Decimal | None = Decimal(0)
        for call in summary_calls:
            summary_cost = (
                None if summary_cost is None or call.cost is None else summary_cost + call.cost
            )
        result = TurnResult(
            response=answer.result.text,
            provider=answer.provider,
            model=answer.model,
            session_id=session.id,
            message_count=session.message_count,
            timestamp=now,
            execution_time=self._clock.monotonic() - started,
            usage=usage,
            cost=turn_call.cost,
            was_summarized=prepared.new_summary is not None,
            summary_tokens=sum(c.usage.total_tokens for c in summary_calls),
            summary_cost=summary_cost,
            fallback_from=answer.fallback_from,
            reasoning_content=answer.result.reasoning_content,
            interrupted=answer.interrupted,
        )
        async with self._uow() as uow:
            if prepared.is_new:
                await uow.sessions.add(session)
            else:
                await uow.sessions.update(session)
            await uow.messages.add_many([question, reply])
            if prepared.new_summary is not None:
                await uow.summaries.add(prepared.new_summary)
            for call in [*prepared.calls, turn_call]:
                await uow.calls.add(call)
            if cmd.idempotency_key is not None:
                await uow.idempotency.add(
                    cmd.owner,
                    cmd.idempotency_key,
                    cmd.fingerprint(),
                    session.id,
                    result.to_record(),
                )
            try:
                await uow.commit()
            except IdempotencyConflict:
                # The same key, on a turn that created its own session, won a race with us.
                if (replay := await self._replay(cmd)) is not None:
                    return replay
                raise
        self._accounts.turn_finished(
            answer.provider, answer.model, result.execution_time, answer.interrupted
        )
        return result


def _as_stream(replay: TurnResult) -> tuple[TurnEvent, ...]:
    """A stored reply replayed as the events of a streamed turn."""
    return (SessionOpened(replay.session_id), TextDelta(replay.response), TurnDone(replay))


def _interrupted_result(request: ChatRequest, text: str) -> ChatResult:
    """The part of a reply received before the client left, with estimated usage."""
    usage = estimated_usage(request, text)
    return ChatResult(text=text, model=request.model, usage=usage, finish_reason="interrupted")
