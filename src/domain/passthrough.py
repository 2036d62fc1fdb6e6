"""Calls without memory, for clients that send the whole conversation themselves (the
OpenAI-compatible endpoint without a session id). Nothing is stored but the call record,
so they are still counted in the global metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

from src.domain.accounting import CallAccountant
from src.domain.entities import CallRecord
from src.domain.errors import ProviderError
from src.domain.llm import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    LLMProvider,
    StreamEnd,
    TextDelta,
    close_stream,
)
from src.domain.ports import CallObserver, Clock, PriceBook, ProviderDirectory, UnitOfWorkFactory
from src.domain.tokens import estimated_usage
from src.domain.turns import Target


@dataclass(frozen=True, slots=True)
class PassthroughResult:
    provider: str
    model: str
    result: ChatResult
    cost: Decimal | None


class Passthrough:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        providers: ProviderDirectory,
        prices: PriceBook,
        clock: Clock,
        observer: CallObserver | None = None,
    ) -> None:
        self._uow = uow
        self._providers = providers
        self._accounts = CallAccountant(prices, clock, observer)
        self._clock = clock

    def _resolve(self, target: Target) -> tuple[str, LLMProvider, str]:
        name = target.provider or self._providers.default_provider
        provider = self._providers.get(name)
        return name, provider, target.model or provider.spec.default_model

    async def complete(
        self,
        target: Target,
        messages: tuple[ChatMessage, ...],
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> PassthroughResult:
        name, provider, model = self._resolve(target)
        started = self._clock.monotonic()
        try:
            result = await provider.complete(ChatRequest(model, messages, temperature, max_tokens))
        except ProviderError as error:
            await self._record(self._accounts.failed(None, "turn", name, model, error, started))
            raise
        call = self._accounts.succeeded(None, "turn", name, model, result.usage, started)
        await self._record(call)
        return PassthroughResult(name, model, result, call.cost)

    async def stream(
        self,
        target: Target,
        messages: tuple[ChatMessage, ...],
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[TextDelta | PassthroughResult]:
        """Deltas as they come, then the result; an abandoned stream is accounted estimated."""
        name, provider, model = self._resolve(target)
        request = ChatRequest(model, messages, temperature, max_tokens)
        started = self._clock.monotonic()
        parts: list[str] = []
        events = provider.stream(request)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                    yield event
                elif isinstance(event, StreamEnd):
                    call = self._accounts.succeeded(
                        None, "turn", name, model, event.result.usage, started
                    )
                    await self._record(call)
                    yield PassthroughResult(name, model, event.result, call.cost)
        except ProviderError as error:
            await self._record(self._accounts.failed(None, "turn", name, model, error, started))
            raise
        except (GeneratorExit, asyncio.CancelledError):
            usage = estimated_usage(request, "".join(parts))
            call = self._accounts.succeeded(None, "turn", name, model, usage, started)
            await asyncio.shield(self._record(call))
            raise
        finally:
            await close_stream(events)

    async def _record(self, call: CallRecord) -> None:
        async with self._uow() as uow:
            await uow.calls.add(call)
            await uow.commit()
