"""OpenTelemetry traces, exported over OTLP/HTTP; imported only when an endpoint is set.

A turn is one span (``turn``) carrying ``session.id``, ``tenant`` and the GenAI semantic
conventions of its answer; its children are each provider call (``chat <model>``, or
``summarize <model>`` for a summary fold) with the request and response conventions, and
each unit of work (``db.unit_of_work``: the database work), under the HTTP server span of
the FastAPI instrumentation. Spans never hold message content: only ids, names, counts and
the error's type and code, and exceptions are not recorded (their text may quote a
provider's reply).

Streamed turns are traced step by step: the turn span is made current only while the turn
advances to its next event and detached before the event is handed on, because the SSE body
is consumed in another task than the one that started it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from src.domain.errors import OrchestratorError
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    LLMProvider,
    ProviderSpec,
    StreamEnd,
    StreamEvent,
    close_stream,
)
from src.domain.memory import SUMMARY_INSTRUCTIONS
from src.domain.ports import ProviderDirectory, UnitOfWork, UnitOfWorkFactory
from src.domain.turns import TurnCommand, TurnDone, TurnEvent, TurnResult


def _failed(span: Span, error: BaseException) -> None:
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.set_attribute("error.type", type(error).__name__)


def _answer_attributes(span: Span, result: ChatResult) -> None:
    span.set_attributes(
        {
            "gen_ai.response.model": result.model,
            "gen_ai.usage.input_tokens": result.usage.input_tokens,
            "gen_ai.usage.output_tokens": result.usage.output_tokens,
            "gen_ai.response.finish_reasons": [result.finish_reason or "unknown"],
        }
    )


class OtelTurnTracer:
    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def _start(self, cmd: TurnCommand) -> Span:
        attributes: dict[str, Any] = {"tenant": cmd.owner, "gen_ai.operation.name": "chat"}
        if cmd.session_id:
            attributes["session.id"] = cmd.session_id
        if cmd.target and cmd.target.provider:
            attributes["gen_ai.system"] = cmd.target.provider
        if cmd.target and cmd.target.model:
            attributes["gen_ai.request.model"] = cmd.target.model
        return self._tracer.start_span("turn", attributes=attributes)

    @staticmethod
    def _finish(span: Span, result: TurnResult) -> None:
        span.set_attributes(
            {
                "session.id": result.session_id,
                "gen_ai.system": result.provider,
                "gen_ai.response.model": result.model,
                "gen_ai.usage.input_tokens": result.usage.input_tokens,
                "gen_ai.usage.output_tokens": result.usage.output_tokens,
                "orchestrator.cost_usd": float(result.cost or 0),
                "orchestrator.was_summarized": result.was_summarized,
            }
        )

    async def turn(self, cmd: TurnCommand, run: Callable[[], Awaitable[TurnResult]]) -> TurnResult:
        span = self._start(cmd)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = await run()
            self._finish(span, result)
        except OrchestratorError as error:
            _failed(span, error)
            raise
        finally:
            otel_context.detach(token)
            span.end()
        return result

    async def stream(
        self, cmd: TurnCommand, events: AsyncIterator[TurnEvent]
    ) -> AsyncIterator[TurnEvent]:
        span = self._start(cmd)
        current = trace.set_span_in_context(span)
        try:
            while True:
                token = otel_context.attach(current)
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    return
                finally:
                    otel_context.detach(token)
                if isinstance(event, TurnDone):
                    self._finish(span, event.result)
                yield event
        except OrchestratorError as error:
            _failed(span, error)
            raise
        finally:
            await close_stream(events)
            span.end()


class TracedProvider:
    """An adapter whose calls are client spans with the GenAI request and response fields."""

    def __init__(self, inner: LLMProvider, tracer: trace.Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    @property
    def spec(self) -> ProviderSpec:
        return self._inner.spec

    def _start(self, request: ChatRequest) -> Span:
        summary = bool(request.messages) and request.messages[0].content == SUMMARY_INSTRUCTIONS
        kind = "summary" if summary else "turn"
        return self._tracer.start_span(
            f"{'summarize' if summary else 'chat'} {request.model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": self._inner.spec.name,
                "gen_ai.request.model": request.model,
                "orchestrator.call.kind": kind,
            },
        )

    async def complete(self, request: ChatRequest) -> ChatResult:
        span = self._start(request)
        try:
            result = await self._inner.complete(request)
            _answer_attributes(span, result)
        except OrchestratorError as error:
            _failed(span, error)
            raise
        finally:
            span.end()
        return result

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        span = self._start(request)
        events = self._inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, StreamEnd):
                    _answer_attributes(span, event.result)
                yield event
        except OrchestratorError as error:
            _failed(span, error)
            raise
        finally:
            await close_stream(events)
            span.end()

    async def aclose(self) -> None:
        await self._inner.aclose()


class TracedDirectory:
    def __init__(self, inner: ProviderDirectory, tracer: trace.Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    @property
    def default_provider(self) -> str:
        return self._inner.default_provider

    def get(self, name: str) -> LLMProvider:
        return TracedProvider(self._inner.get(name), self._tracer)

    def resolve(self, provider: str | None, model: str | None) -> tuple[str, str]:
        return self._inner.resolve(provider, model)


class _TracedWork:
    """One unit of work as a span, current while it runs so the statements nest under it."""

    def __init__(self, inner: UnitOfWork, tracer: trace.Tracer) -> None:
        self._inner = inner
        self._tracer = tracer
        self._span: Span | None = None
        self._token: object = None

    async def __aenter__(self) -> UnitOfWork:
        self._span = self._tracer.start_span("db.unit_of_work", kind=SpanKind.CLIENT)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._inner.__aexit__(*exc)
        finally:
            otel_context.detach(cast(Any, self._token))
            if self._span is not None:
                self._span.end()


class TracedUnitOfWorkFactory:
    def __init__(self, inner: UnitOfWorkFactory, tracer: trace.Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    def __call__(self) -> UnitOfWork:
        return cast(UnitOfWork, _TracedWork(self._inner(), self._tracer))


class OtelTracing:
    """The tracer provider exporting to ``endpoint`` and the decorators built on it."""

    def __init__(self, endpoint: str, service_name: str, version: str) -> None:
        resource = Resource.create({"service.name": service_name, "service.version": version})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
        )
        self.tracer = self.provider.get_tracer("orchestrator")
        self.turns = OtelTurnTracer(self.tracer)

    def directory(self, inner: ProviderDirectory) -> ProviderDirectory:
        return TracedDirectory(inner, self.tracer)

    def units(self, inner: UnitOfWorkFactory) -> UnitOfWorkFactory:
        return TracedUnitOfWorkFactory(inner, self.tracer)

    def instrument(self, app: FastAPI) -> None:
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls="api/health.*,metrics"
        )

    async def aclose(self) -> None:
        """Exports what is buffered, then stops."""
        self.provider.shutdown()
