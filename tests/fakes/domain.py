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

from src.domain.agents import AgentPreset
from src.domain.analytics import SessionTrail, TurnCall
from src.domain.entities import (
    CallRecord,
    CallTotals,
    Message,
    Session,
    SessionStats,
    SummaryVersion,
)
from src.domain.errors import (
    AgentExists,
    IdempotencyConflict,
    InvalidInput,
    ProviderError,
    ProviderNotConfigured,
    SessionBusy,
)
from src.domain.identity import ApiKey
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    ProviderSpec,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TokenUsage,
    ToolCallReady,
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
        self.keys: dict[str, ApiKey] = {}
        self.agents: dict[tuple[str, str], AgentPreset] = {}


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def s(self) -> _Store:
        return self.uow.pending


class _Sessions(_Repo):
    async def add(self, session: Session) -> None:
        kept = copy.deepcopy(session)
        self.uow.write(lambda s: s.sessions.__setitem__(kept.id, copy.deepcopy(kept)))

    async def get(self, session_id: str, owner: str | None) -> Session | None:
        found = self.s.sessions.get(session_id)
        return copy.deepcopy(found) if found and owner in (None, found.owner) else None

    async def update(self, session: Session) -> None:
        await self.add(session)

    async def delete(self, session_id: str, owner: str | None) -> bool:
        if await self.get(session_id, owner) is None:
            return False

        def delete(s: _Store) -> None:
            s.sessions.pop(session_id, None)
            s.messages.pop(session_id, None)
            s.summaries.pop(session_id, None)
            s.calls = [
                replace(c, session_id=None) if c.session_id == session_id else c for c in s.calls
            ]

        self.uow.write(delete)
        return True

    async def list(
        self, owner: str | None, user_id: str | None, limit: int, offset: int
    ) -> Sequence[Session]:
        rows = [
            s
            for s in self.s.sessions.values()
            if owner in (None, s.owner) and (user_id is None or s.user_id == user_id)
        ]
        rows.sort(key=lambda s: s.created_at, reverse=True)
        return rows[offset : offset + limit]

    async def count(self, owner: str | None, user_id: str | None) -> int:
        return len(await self.list(owner, user_id, 10**9, 0))

    async def stats(self, owner: str | None) -> SessionStats:
        rows = [s for s in self.s.sessions.values() if owner in (None, s.owner)]
        durations = [(s.updated_at - s.created_at).total_seconds() for s in rows]
        return SessionStats(
            active=sum(s.status == "active" for s in rows),
            total=len(rows),
            avg_duration_s=sum(durations) / len(durations) if durations else 0.0,
        )


class _Messages(_Repo):
    async def add_many(self, messages: Sequence[Message]) -> None:
        def add(s: _Store) -> None:
            for m in messages:
                existing = s.messages.setdefault(m.session_id, [])
                if any(e.seq == m.seq for e in existing):
                    raise AssertionError(f"duplicate seq {m.seq}")
                existing.append(m)

        self.uow.write(add)

    def _all(self, session_id: str) -> list[Message]:
        return sorted(self.s.messages.get(session_id, []), key=lambda m: m.seq)

    async def tail(
        self, session_id: str, after_seq: int, limit: int, newest_seq: int
    ) -> Sequence[Message]:
        return [m for m in self._all(session_id) if after_seq < m.seq <= newest_seq][-limit:]

    async def between(self, session_id: str, from_seq: int, to_seq: int) -> Sequence[Message]:
        return [m for m in self._all(session_id) if from_seq <= m.seq <= to_seq]

    async def page(self, session_id: str, limit: int, offset: int) -> Sequence[Message]:
        return self._all(session_id)[offset : offset + limit]


class _Summaries(_Repo):
    async def add(self, summary: SummaryVersion) -> None:
        self.uow.write(lambda s: s.summaries.setdefault(summary.session_id, []).append(summary))

    async def all(self, session_id: str) -> Sequence[SummaryVersion]:
        return list(self.s.summaries.get(session_id, []))


class _Calls(_Repo):
    async def add(self, record: CallRecord) -> None:
        def add(s: _Store) -> None:
            s.calls.append(record)
            key = s.keys.get(record.key_id or "")
            if key is not None and record.cost:
                s.keys[key.id] = replace(key, spent_usd=key.spent_usd + record.cost)

        self.uow.write(add)

    async def totals(
        self, session_id: str | None, tenant: str | None = None
    ) -> Sequence[CallTotals]:
        groups: dict[tuple[str, str], list[CallRecord]] = {}
        for c in self.s.calls:
            if session_id in (None, c.session_id) and tenant in (None, c.tenant):
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
        entry = (fingerprint, session_id, reply)
        self.uow.write(lambda s: s.idempotency.__setitem__((owner, key), entry))


class _Keys(_Repo):
    async def add(self, key: ApiKey) -> None:
        self.uow.write(lambda s: s.keys.__setitem__(key.id, key))

    async def by_digest(self, secret_hash: str) -> ApiKey | None:
        return next((k for k in self.s.keys.values() if k.secret_hash == secret_hash), None)

    async def all(self) -> Sequence[ApiKey]:
        return sorted(self.s.keys.values(), key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str, at: datetime) -> bool:
        key = self.s.keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self.uow.write(lambda s: s.keys.__setitem__(key_id, replace(key, revoked_at=at)))
        return True

    async def any_usable(self, now: datetime) -> bool:
        return any(k.usable_at(now) for k in self.s.keys.values())


class _Agents(_Repo):
    async def add(self, preset: AgentPreset) -> None:
        key = (preset.tenant, preset.name)
        if key in self.s.agents:
            raise AgentExists(preset.name)
        self.uow.write(lambda s: s.agents.__setitem__(key, preset))

    async def get(self, tenant: str, name: str) -> AgentPreset | None:
        return self.s.agents.get((tenant, name))

    async def list(self, tenant: str) -> Sequence[AgentPreset]:
        return sorted(
            (p for p in self.s.agents.values() if p.tenant == tenant), key=lambda p: p.name
        )

    async def update(self, preset: AgentPreset) -> None:
        self.uow.write(lambda s: s.agents.__setitem__((preset.tenant, preset.name), preset))

    async def delete(self, tenant: str, name: str) -> bool:
        return bool(self.uow.write(lambda s: s.agents.pop((tenant, name), None)))


class FakeUnitOfWork:
    """One transaction: reads see a snapshot plus its own writes; ``commit`` replays its writes
    onto the live store, so concurrent units of work each keep their own changes (as a real
    database does) and uncommitted work vanishes."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.pending = store
        self.new_keys: list[tuple[str, str]] = []
        self.journal: list[Callable[[_Store], Any]] = []
        self.sessions = _Sessions(self)
        self.messages = _Messages(self)
        self.summaries = _Summaries(self)
        self.calls = _Calls(self)
        self.idempotency = _Idempotency(self)
        self.keys = _Keys(self)
        self.agents = _Agents(self)
        self.committed = False

    async def __aenter__(self) -> FakeUnitOfWork:
        self.pending = copy.deepcopy(self.store)
        self.journal = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.pending = self.store
        self.journal = []

    def write(self, step: Callable[[_Store], Any]) -> Any:
        """Applies a write to this transaction's view now and to the store at commit."""
        self.journal.append(step)
        return step(self.pending)

    async def commit(self) -> None:
        for key in self.new_keys:
            if key in self.store.idempotency:
                raise IdempotencyConflict(key[1])
        for step in self.journal:
            step(self.store)
        self.journal = []
        self.pending = copy.deepcopy(self.store)
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
            capabilities=(
                "chat",
                "streaming",
                "tools",
                "tool_choice",
                "json_object",
                "json_schema",
                "vision",
            ),
            options=frozenset({"stop", "top_p", "seed"}),
        )
        self.requests: list[ChatRequest] = []
        self.queue: list[ChatResult | ProviderError] = []
        self.script = script or self.echo
        self.delay_s = 0.0
        self.chunks: int = 3
        # (n, error): the stream raises ``error`` after its first ``n`` deltas.
        self.fail_mid_stream: tuple[int, ProviderError] | None = None

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
        failure, self.fail_mid_stream = self.fail_mid_stream, None
        for sent, i in enumerate(range(0, len(result.text), size)):
            if failure is not None and sent == failure[0]:
                raise failure[1]
            yield TextDelta(result.text[i : i + size])
            await asyncio.sleep(0)
        for call in result.tool_calls:
            yield ToolCallReady(call)
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

    def resolve(self, provider: str | None, model: str | None) -> tuple[str, str]:
        """As the registry: a bare model goes to the provider listing it, else the default."""
        if provider is None:
            listing = (p for p in self.providers.values() if model in p.spec.models)
            provider = next((p.spec.name for p in listing), self._default)
        if model is None:
            known = self.providers.get(provider)
            model = known.spec.default_model if known else "default"
        return provider, model

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


class FakeAnalytics:
    """The analytics read side over the in-memory store, for the API tests that run on fakes:
    a session's trail (what the tenancy checks reach); the aggregate pages are tested on the
    real databases (``tests/persistence/test_analytics.py``)."""

    def __init__(self, store: FakeStore) -> None:
        self._data = store.data

    async def trail(self, owner: str | None, session_id: str) -> SessionTrail | None:
        session = self._data.sessions.get(session_id)
        if session is None or owner not in (None, session.owner):
            return None
        calls = [c for c in self._data.calls if c.session_id == session_id]
        return SessionTrail(
            summaries=tuple(self._data.summaries.get(session_id, [])),
            calls=tuple(
                TurnCall(
                    created_at=c.created_at,
                    kind=c.kind,
                    provider=c.provider,
                    model=c.model,
                    tokens=c.usage.total_tokens,
                    cost=c.cost,
                    latency_s=c.latency_s,
                    ok=c.ok,
                )
                for c in calls
            ),
        )
