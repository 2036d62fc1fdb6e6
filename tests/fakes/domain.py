"""In-memory implementations of the domain's ports, for fast tests of the session manager."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from src.domain.entities import (
    CallRecord,
    CallTotals,
    Message,
    Session,
    SessionStats,
    SummaryVersion,
)
from src.domain.errors import (
    IdempotencyConflict,
    InvalidInput,
    ProviderError,
    ProviderNotConfigured,
    SessionBusy,
)
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    ProviderSpec,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TokenUsage,
)
from src.domain.pricing import ModelPrice


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.base = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.base + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class _Store:
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.messages: dict[str, list[Message]] = {}
        self.summaries: dict[str, list[SummaryVersion]] = {}
        self.calls: list[CallRecord] = []
        self.idempotency: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def s(self) -> _Store:
        return self.uow.pending


class _Sessions(_Repo):
    async def add(self, session: Session) -> None:
        self.s.sessions[session.id] = copy.deepcopy(session)

    async def get(self, session_id: str, owner: str) -> Session | None:
        found = self.s.sessions.get(session_id)
        return copy.deepcopy(found) if found and found.owner == owner else None

    async def update(self, session: Session) -> None:
        self.s.sessions[session.id] = copy.deepcopy(session)

    async def delete(self, session_id: str, owner: str) -> bool:
        if await self.get(session_id, owner) is None:
            return False
        del self.s.sessions[session_id]
        self.s.messages.pop(session_id, None)
        self.s.summaries.pop(session_id, None)
        self.s.calls = [
            replace(c, session_id=None) if c.session_id == session_id else c for c in self.s.calls
        ]
        return True

    async def list(
        self, owner: str, user_id: str | None, limit: int, offset: int
    ) -> Sequence[Session]:
        rows = [
            s
            for s in self.s.sessions.values()
            if s.owner == owner and (user_id is None or s.user_id == user_id)
        ]
        rows.sort(key=lambda s: s.created_at, reverse=True)
        return rows[offset : offset + limit]

    async def count(self, owner: str, user_id: str | None) -> int:
        return len(await self.list(owner, user_id, 10**9, 0))

    async def stats(self, owner: str | None) -> SessionStats:
        rows = list(self.s.sessions.values())
        durations = [(s.updated_at - s.created_at).total_seconds() for s in rows]
        return SessionStats(
            active=sum(s.status == "active" for s in rows),
            total=len(rows),
            avg_duration_s=sum(durations) / len(durations) if durations else 0.0,
        )


class _Messages(_Repo):
    async def add_many(self, messages: Sequence[Message]) -> None:
        for m in messages:
            existing = self.s.messages.setdefault(m.session_id, [])
            if any(e.seq == m.seq for e in existing):
                raise AssertionError(f"duplicate seq {m.seq}")
            existing.append(m)

    def _all(self, session_id: str) -> list[Message]:
        return sorted(self.s.messages.get(session_id, []), key=lambda m: m.seq)

    async def tail(self, session_id: str, after_seq: int, limit: int) -> Sequence[Message]:
        return [m for m in self._all(session_id) if m.seq > after_seq][-limit:]

    async def between(self, session_id: str, from_seq: int, to_seq: int) -> Sequence[Message]:
        return [m for m in self._all(session_id) if from_seq <= m.seq <= to_seq]

    async def page(self, session_id: str, limit: int, offset: int) -> Sequence[Message]:
        return self._all(session_id)[offset : offset + limit]


class _Summaries(_Repo):
    async def add(self, summary: SummaryVersion) -> None:
        self.s.summaries.setdefault(summary.session_id, []).append(summary)

    async def all(self, session_id: str) -> Sequence[SummaryVersion]:
        return list(self.s.summaries.get(session_id, []))


class _Calls(_Repo):
    async def add(self, record: CallRecord) -> None:
        self.s.calls.append(record)

    async def totals(self, session_id: str | None) -> Sequence[CallTotals]:
        groups: dict[tuple[str, str], list[CallRecord]] = {}
        for c in self.s.calls:
            if session_id is None or c.session_id == session_id:
                groups.setdefault((c.provider, c.kind), []).append(c)
        return [
            CallTotals(
                provider=p,
                kind=k,  # type: ignore[arg-type]
                calls=len(cs),
                failures=sum(not c.ok for c in cs),
                input_tokens=sum(c.usage.input_tokens for c in cs),
                output_tokens=sum(c.usage.output_tokens for c in cs),
                cached_input_tokens=sum(c.usage.cached_input_tokens for c in cs),
                cost=sum((c.cost for c in cs if c.cost is not None), Decimal(0)),
                calls_with_unknown_cost=sum(c.cost is None for c in cs),
                latency_s_sum=sum(c.latency_s for c in cs),
            )
            for (p, k), cs in groups.items()
        ]


class _Idempotency(_Repo):
    async def get(self, owner: str, key: str) -> tuple[str, dict[str, Any]] | None:
        found = self.s.idempotency.get((owner, key))
        return (found[0], found[2]) if found else None

    async def add(
        self, owner: str, key: str, fingerprint: str, session_id: str, reply: dict[str, Any]
    ) -> None:
        self.uow.new_keys.append((owner, key))
        self.s.idempotency[(owner, key)] = (fingerprint, session_id, reply)


class FakeUnitOfWork:
    """Works on a copy of the store; ``commit`` swaps it in, so uncommitted work vanishes."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.pending = store
        self.new_keys: list[tuple[str, str]] = []
        self.sessions = _Sessions(self)
        self.messages = _Messages(self)
        self.summaries = _Summaries(self)
        self.calls = _Calls(self)
        self.idempotency = _Idempotency(self)
        self.committed = False

    async def __aenter__(self) -> FakeUnitOfWork:
        self.pending = copy.deepcopy(self.store)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.pending = self.store

    async def commit(self) -> None:
        for key in self.new_keys:
            if key in self.store.idempotency:
                raise IdempotencyConflict(key[1])
        self.store.__dict__.update(self.pending.__dict__)
        self.pending = self.store
        self.committed = True


class FakeStore:
    """The whole in-memory database, handed to the manager as its unit-of-work factory."""

    def __init__(self) -> None:
        self.data = _Store()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.data)


class FakeLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, session_id: str, timeout_s: float) -> AsyncIterator[None]:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), timeout_s)
        except TimeoutError:
            raise SessionBusy(session_id, timeout_s) from None
        try:
            yield
        finally:
            lock.release()


Script = Callable[[ChatRequest], ChatResult | ProviderError]


class FakeProvider:
    """An LLM provider answering from a script; records every request it got."""

    def __init__(
        self, name: str = "fake", default_model: str = "fake-1", script: Script | None = None
    ) -> None:
        self._spec = ProviderSpec(
            name=name,
            default_model=default_model,
            models=(default_model,),
            key_variable="FAKE_API_KEY",
        )
        self.requests: list[ChatRequest] = []
        self.queue: list[ChatResult | ProviderError] = []
        self.script = script or self.echo
        self.delay_s = 0.0
        self.chunks: int = 3

    @staticmethod
    def echo(request: ChatRequest) -> ChatResult:
        last = request.messages[-1].content
        if request.messages[0].content.startswith("You maintain the running summary"):
            return ChatResult(
                text="short summary",
                model=request.model,
                usage=TokenUsage(input_tokens=50, output_tokens=5),
            )
        return ChatResult(
            text=f"reply to: {last}",
            model=request.model,
            usage=TokenUsage(
                input_tokens=10 * len(request.messages), output_tokens=7, cached_input_tokens=2
            ),
        )

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    async def _answer(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        outcome = self.queue.pop(0) if self.queue else self.script(request)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    async def complete(self, request: ChatRequest) -> ChatResult:
        return await self._answer(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        result = await self._answer(request)
        size = max(1, len(result.text) // self.chunks)
        for i in range(0, len(result.text), size):
            yield TextDelta(result.text[i : i + size])
            await asyncio.sleep(0)
        yield StreamEnd(result)

    async def aclose(self) -> None:
        return None


class FakeDirectory:
    def __init__(self, *providers: FakeProvider, unconfigured: Sequence[str] = ()) -> None:
        self.providers = {p.spec.name: p for p in providers}
        self.unconfigured = set(unconfigured)
        self._default = providers[0].spec.name

    @property
    def default_provider(self) -> str:
        return self._default

    def get(self, name: str) -> FakeProvider:
        if name in self.unconfigured:
            raise ProviderNotConfigured(name, f"{name.upper()}_API_KEY")
        if name not in self.providers:
            raise InvalidInput(f"unknown provider {name!r}")
        return self.providers[name]


class FixedPrices:
    def __init__(self, prices: dict[tuple[str, str], ModelPrice] | None = None) -> None:
        self.prices = prices if prices is not None else {}

    def price_of(self, provider: str, model: str, at: datetime) -> ModelPrice | None:
        return self.prices.get((provider, model))
