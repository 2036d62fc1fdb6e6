"""Folds a session's oldest live messages into its running summary (SPEC §4).

One provider call merges the previous summary with the folded messages. Any failure (the call
fails, or the summary is empty or not shorter than what it replaces) changes nothing: the turn
goes on with the capped window. The call is accounted either way, since it was paid for.
"""

from __future__ import annotations

from src.domain.accounting import CallAccountant
from src.domain.entities import SummaryVersion
from src.domain.errors import ProviderError
from src.domain.memory import MemoryPolicy, accept_summary, fold_upto, summary_request
from src.domain.ports import Ports
from src.domain.provider_chain import Route
from src.domain.settlement import LoadedTurn


class Summarizer:
    def __init__(self, ports: Ports, accounts: CallAccountant, policy: MemoryPolicy) -> None:
        self._uow = ports.uow
        self._providers = ports.providers
        self._accounts = accounts
        self._clock = ports.clock
        self._policy = policy

    def route_for(self, primary: Route) -> Route:
        """``SUMMARY_PROVIDER``/``SUMMARY_MODEL``, else the turn's own provider and model."""
        policy = self._policy
        if policy.summary_provider is None or policy.summary_provider == primary.provider:
            return Route(primary.provider, policy.summary_model or primary.model)
        return Route(policy.summary_provider, policy.summary_model)

    async def fold(self, turn: LoadedTurn, primary: Route) -> None:
        """Sets ``turn.new_summary`` and trims ``turn.window`` when the fold succeeds."""
        session = turn.session
        assert session is not None, "a stateless turn has no memory to fold"
        first = session.summary_through_seq + 1
        live = turn.window
        if not live or live[0].seq != first:  # the window did not reach back that far
            async with self._uow() as uow:
                live = list(await uow.messages.between(session.id, first, session.message_count))
        roles: dict[int, str] = {m.seq: m.role for m in live}
        # What this turn adds counts too: a result arriving now keeps its call live.
        roles.update({session.message_count + i: m.role for i, m in enumerate(turn.added, 1)})
        upto = fold_upto(
            self._policy, session.message_count, session.summary_through_seq, roles.get
        )
        if upto is None:
            return
        folded = [m for m in live if m.seq <= upto]
        route = self.route_for(primary)
        model = route.model or ""
        started = self._clock.monotonic()
        try:
            provider = self._providers.get(route.provider)
            model = route.model or provider.spec.default_model
            result = await provider.complete(summary_request(model, session.summary, folded))
        except ProviderError as error:
            turn.calls.append(
                self._accounts.failed(session.id, "summary", route.provider, model, error, started)
            )
            return
        turn.calls.append(
            self._accounts.succeeded(
                session.id, "summary", route.provider, model, result.usage, started
            )
        )
        text = accept_summary(result.text, session.summary, folded)
        if text is None:
            return
        turn.new_summary = SummaryVersion(
            session_id=session.id,
            version=session.summary_version + 1,
            content=text,
            from_seq=first,
            to_seq=upto,
            created_at=self._clock.now(),
            provider=route.provider,
            model=model,
        )
        turn.window = [m for m in turn.window if m.seq > upto]
