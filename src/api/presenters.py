"""Domain objects to API contracts (and nothing else)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from src.domain.entities import Message, Session
from src.domain.llm import ContentPart, ImagePart
from src.domain.metrics import GlobalUsage, SessionMetrics
from src.domain.turns import HistoryPage, TurnResult
from src.infrastructure.metrics import RequestMetrics
from src.models.orchestrate import OrchestrateResponse, TurnMetadata
from src.models.service import (
    GlobalMetricsResponse,
    ProviderMetrics,
    SessionCounts,
    SystemMetrics,
)
from src.models.sessions import (
    HistoryResponse,
    MessageOut,
    ProviderBreakdown,
    SessionMetricsResponse,
    SessionResponse,
)
from src.models.tools import ToolCallOut


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def session_out(session: Session) -> SessionResponse:
    return SessionResponse(
        session_id=session.id,
        user_id=session.user_id,
        created_at=session.created_at,
        updated_at=session.updated_at,
        status=session.status,
        message_count=session.message_count,
        summary=session.summary,
        metadata=session.metadata,
        system_prompt=session.system_prompt,
    )


def turn_out(result: TurnResult, request_id: str) -> OrchestrateResponse:
    usage = result.usage
    return OrchestrateResponse(
        response=result.response,
        agent_used=result.provider,
        model_used=result.model,
        session_id=result.session_id,
        message_count=result.message_count,
        timestamp=result.timestamp,
        execution_time=round(result.execution_time, 6),
        finish_reason=result.finish_reason,
        tool_calls=[ToolCallOut.of(c) for c in result.tool_calls],
        metadata=TurnMetadata(
            tokens_used=usage.total_tokens,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_estimate=money(result.cost),
            usage_estimated=usage.estimated,
            was_summarized=result.was_summarized,
            summary_tokens=result.summary_tokens,
            summary_cost=money(result.summary_cost),
            fallback_from=result.fallback_from,
            request_id=request_id,
        ),
    )


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        role=message.role,
        content=message.content,
        timestamp=message.created_at,
        provider=message.provider,
        model=message.model,
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
        cost=money(message.cost),
        reasoning_content=message.reasoning_content,
        interrupted=message.interrupted,
        tool_calls=[ToolCallOut.of(c) for c in message.tool_calls],
        tool_call_id=message.tool_call_id,
        tool_name=message.tool_name,
        content_parts=[part_out(p) for p in message.parts],
        finish_reason=message.finish_reason,
    )


def part_out(part: ContentPart) -> dict[str, Any]:
    """A stored content part in OpenAI's form."""
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}
    return {"type": "text", "text": part.text}


def history_out(page: HistoryPage) -> HistoryResponse:
    return HistoryResponse(
        session_id=page.session_id,
        messages=[message_out(m) for m in page.messages],
        summary=page.summary,
        total=page.total,
        has_more=page.has_more,
    )


def session_metrics_out(metrics: SessionMetrics) -> SessionMetricsResponse:
    session = metrics.session
    return SessionMetricsResponse(
        session_id=session.id,
        message_count=session.message_count,
        providers_used=metrics.providers_used,
        total_tokens=metrics.total_tokens,
        input_tokens=metrics.input_tokens,
        output_tokens=metrics.output_tokens,
        total_cost=float(metrics.total_cost),
        calls_with_unknown_cost=metrics.calls_with_unknown_cost,
        summary_count=session.summary_version,
        summary_tokens=metrics.summary_tokens,
        summary_cost=float(metrics.summary_cost),
        average_response_time=metrics.average_response_time,
        last_summary_at=metrics.last_summary_at,
        created_at=session.created_at,
        by_provider={
            name: ProviderBreakdown(
                turns=usage.calls,
                tokens=usage.tokens,
                cost=float(usage.cost),
                average_response_time=usage.average_latency_s,
            )
            for name, usage in metrics.by_provider.items()
        },
    )


def global_metrics_out(requests: RequestMetrics, usage: GlobalUsage) -> GlobalMetricsResponse:
    return GlobalMetricsResponse(
        system=SystemMetrics(
            uptime=requests.uptime_s,
            requests_total=requests.requests_total,
            errors_rate=requests.errors_rate,
        ),
        providers={
            name: ProviderMetrics(
                requests=p.calls,
                avg_latency=p.average_latency_s,
                success_rate=p.success_rate,
                tokens=p.tokens,
                cost=float(p.cost),
            )
            for name, p in sorted(usage.providers.items())
        },
        sessions=SessionCounts(
            active=usage.sessions.active,
            total_created=usage.sessions.total,
            avg_duration=usage.sessions.avg_duration_s,
        ),
    )
