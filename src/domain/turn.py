"""The turn: one pipeline for whole, streamed, ``/v1`` and WebSocket turns.

Its steps, in order, each written once:

1. replay — an idempotency key answered before returns that answer (checked again under the
   lock, where a concurrent first attempt may just have finished);
2. admit — the provider chain and what it must honour are checked, then the key's budget and
   limits, before anything is loaded or created;
3. hold — the session's lock, so turns on one session run one at a time everywhere;
4. load — the session row and its live window (nothing, for a stateless turn);
5. fold — old messages into the running summary, when a threshold is passed (``summarizer``);
6. call — through the provider chain, forwarding deltas and tool calls (``provider_chain``);
7. settle — what the turn stores and answers, a pure function (``settlement``);
8. persist — the settlement, in one transaction.

A whole turn is the same sequence of events with each provider attempt made as one
``complete`` call; :meth:`TurnPipeline.run` collects its ``TurnDone``. A consumer that leaves
mid-turn (a client gone, a shutdown) settles the turn as interrupted: the partial reply is
stored marked so, with estimated usage, and every call record is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from src.domain.accounting import CallAccountant, new_id
from src.domain.admission import Admission
from src.domain.capabilities import require_supported
from src.domain.entities import Session
from src.domain.errors import (
    ProviderError,
    ProviderNotConfigured,
    SessionNotFound,
)
from src.domain.llm import ChatRequest, TextDelta, close_stream
from src.domain.memory import MemoryPolicy, build_context, needs_summary
from src.domain.ports import Ports
from src.domain.provider_chain import Answer, ChainRun, Route
from src.domain.settlement import LoadedTurn, Settlement, settle_answer, settle_failure
from src.domain.summarizer import Summarizer
from src.domain.tool_exchange import new_messages, probe_request
from src.domain.turn_store import TurnStore
from src.domain.turns import (
    SessionOpened,
    Target,
    TurnCommand,
    TurnDone,
    TurnEvent,
    TurnResult,
)


class TurnPipeline:
    def __init__(
        self, ports: Ports, policy: MemoryPolicy, admission: Admission | None = None
    ) -> None:
        self._admission = admission
        self._uow = ports.uow
        self._store = TurnStore(ports.uow)
        self._providers = ports.providers
        self._accounts = CallAccountant(ports.prices, ports.clock, ports.observer)
        self._locks = ports.locks
        self._clock = ports.clock
        self._policy = policy
        self._summarizer = Summarizer(ports, self._accounts, policy)

    async def run(self, cmd: TurnCommand) -> TurnResult:
        """The whole turn: the same events, collected."""
        events = self.events(cmd, streaming=False)
        try:
            async for event in events:
                if isinstance(event, TurnDone):
                    return event.result
        finally:
            await close_stream(events)
        raise AssertionError("unreachable: a turn ends with TurnDone or raises")  # pragma: no cover

    async def events(self, cmd: TurnCommand, *, streaming: bool) -> AsyncIterator[TurnEvent]:
        started = self._clock.monotonic()
        if (replay := await self._store.replay(cmd)) is not None:
            for event in _replayed(replay):
                yield event
            return
        routes = self._admit(cmd)
        if self._admission is not None:  # last, so a turn refused above takes no turn slot
            await self._admission.admit(cmd.principal.key_id, cmd.principal.limits)
        async with self._hold(cmd):
            if (replay := await self._store.replay(cmd)) is not None:
                for event in _replayed(replay):
                    yield event
                return
            turn = await self._load(cmd, routes[0])
            chain = ChainRun(
                providers=self._providers,
                accounts=self._accounts,
                clock=self._clock,
                routes=routes,
                session_id=turn.session_id,
                request_for=lambda model: self._request(cmd, model, turn),
                streaming=streaming,
                failures=turn.calls,
            )
            calls = chain.events()
            answer: Answer | None = None
            try:
                if turn.session is not None:
                    yield SessionOpened(turn.session.id)
                async for step in calls:
                    if isinstance(step, Answer):
                        answer = step
                    else:
                        yield step
            except ProviderError:
                await self._record(cmd, settle_failure(cmd, turn))
                raise
            except (GeneratorExit, asyncio.CancelledError):
                await asyncio.shield(self._settle_interrupted(cmd, turn, chain.interrupted()))
                raise
            finally:
                await close_stream(calls)
            assert answer is not None, "the chain ends with an answer or raises"
            yield TurnDone(await self._settle(cmd, turn, answer, started))

    # -- the steps ------------------------------------------------------------------------

    def _admit(self, cmd: TurnCommand) -> list[Route]:
        """The provider chain: the primary must be usable, a fallback at least known."""
        targets = (cmd.target or Target(), *cmd.fallbacks)
        routes = [Route(*self._providers.resolve(t.provider, t.model)) for t in targets]
        specs = [self._providers.get(routes[0].provider).spec]
        for fallback in routes[1:]:
            with contextlib.suppress(ProviderNotConfigured):
                specs.append(self._providers.get(fallback.provider).spec)
        probe = probe_request(cmd)
        image_field = None if cmd.transcript is not None else "content_parts"
        for spec in specs:
            require_supported(spec, probe, image_field)
        return routes

    def _hold(self, cmd: TurnCommand) -> AbstractAsyncContextManager[None]:
        if cmd.session_id is None:  # new or stateless: unknown to anyone else
            return contextlib.nullcontext()
        return self._locks.hold(cmd.session_id, self._policy.lock_timeout_s)

    async def _load(self, cmd: TurnCommand, primary: Route) -> LoadedTurn:
        policy = self._policy
        now = self._clock.now()
        if cmd.transcript is not None:
            return LoadedTurn(
                None, is_new=False, window=[], received_at=now, context=cmd.transcript
            )
        if cmd.session_id is None:
            session = Session(id=new_id("sess"), created_at=now, updated_at=now, owner=cmd.owner)
            turn = LoadedTurn(session, is_new=True, window=[], received_at=now)
        else:
            async with self._uow() as uow:
                found = await uow.sessions.get(cmd.session_id, cmd.owner)
                if found is None:
                    raise SessionNotFound(cmd.session_id)
                window = await uow.messages.tail(
                    found.id, found.summary_through_seq, policy.max_history, found.message_count
                )
            session = found
            turn = LoadedTurn(found, is_new=False, window=list(window), received_at=now)
        turn.added = new_messages(cmd, turn.window)
        text = " ".join(m.content for m in turn.added)
        if needs_summary(policy, session.live_count, session.live_tokens, text, len(turn.added)):
            await self._summarizer.fold(turn, primary)
        summary = turn.new_summary.content if turn.new_summary else session.summary
        turn.context = build_context(
            cmd.system_prompt or session.system_prompt,
            summary,
            turn.window,
            turn.added,
            policy.max_history,
        )
        return turn

    def _request(self, cmd: TurnCommand, model: str, turn: LoadedTurn) -> ChatRequest:
        return ChatRequest(
            model=model,
            messages=turn.context,
            temperature=cmd.temperature,
            max_tokens=cmd.max_tokens,
            tools=cmd.tools,
            tool_choice=cmd.tool_choice,
            response_format=cmd.response_format,
            options=dict(cmd.options),
        )

    async def _record(self, cmd: TurnCommand, settlement: Settlement) -> TurnResult | None:
        """Persists a settlement, then charges its calls to the key's token window."""
        result = await self._store.persist(cmd, settlement)
        if self._admission is not None:
            await self._admission.charge(
                cmd.principal.key_id, cmd.principal.limits, settlement.calls
            )
        return result

    async def _settle(
        self, cmd: TurnCommand, turn: LoadedTurn, answer: Answer, started: float
    ) -> TurnResult:
        turn_call = self._accounts.succeeded(
            turn.session_id,
            "turn",
            answer.provider,
            answer.model,
            answer.result.usage,
            answer.started,
        )
        settlement = settle_answer(
            cmd,
            turn,
            answer,
            turn_call,
            now=self._clock.now(),
            elapsed_s=self._clock.monotonic() - started,
        )
        result = await self._record(cmd, settlement)
        assert result is not None, "an answered turn has a result"
        self._accounts.turn_finished(
            answer.provider, answer.model, result.execution_time, answer.interrupted
        )
        return result

    async def _settle_interrupted(
        self, cmd: TurnCommand, turn: LoadedTurn, partial: Answer | None
    ) -> None:
        """A partial reply is stored marked interrupted; with no text, only the calls."""
        if partial is not None and partial.result.text:
            await self._settle(cmd, turn, partial, partial.started)
            return
        if partial is not None:
            usage = partial.result.usage
            turn.calls.append(
                self._accounts.succeeded(
                    turn.session_id, "turn", partial.provider, partial.model, usage, partial.started
                )
            )
        await self._record(cmd, settle_failure(cmd, turn))


def _replayed(replay: TurnResult) -> tuple[TurnEvent, ...]:
    """A stored reply replayed as the events of a turn."""
    assert replay.session_id is not None, "only session turns are replayed"
    return (SessionOpened(replay.session_id), TextDelta(replay.response), TurnDone(replay))
