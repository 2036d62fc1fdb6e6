"""The dashboard's SQL reads on both databases: percentiles, buckets, tenants, the table."""

from __future__ import annotations

import statistics
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.analytics import Period, SessionQuery
from src.domain.llm import TokenUsage
from src.infrastructure.persistence.analytics import NO_TENANT, SqlAnalytics
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.persistence.builders import T0, a_call, a_session, a_summary

LATENCIES = [0.9, 0.1, 0.5, 2.0, 0.3, 1.2, 0.7]


def interpolated(values: list[float], p: float) -> float:
    """The linear interpolation between closest ranks that ``percentile_cont`` computes."""
    ordered = sorted(values)
    rank = p * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


async def _seed(uow_factory: SqlUnitOfWorkFactory) -> tuple[str, str]:
    mine = a_session(owner="acme", user_id="alice", updated_at=T0 + timedelta(hours=2))
    theirs = a_session(owner="globex", user_id="bob", updated_at=T0 + timedelta(hours=1))
    async with uow_factory() as uow:
        await uow.sessions.add(mine)
        await uow.sessions.add(theirs)
        for i, latency in enumerate(LATENCIES):
            await uow.calls.add(
                a_call(mine.id, latency_s=latency, created_at=T0 + timedelta(seconds=i))
            )
        await uow.calls.add(
            a_call(mine.id, kind="summary", latency_s=9.0, created_at=T0 + timedelta(hours=1))
        )
        await uow.calls.add(
            a_call(
                theirs.id,
                provider="anthropic",
                model="claude-x",
                ok=False,
                error_code="provider_error",
                cost=Decimal("0.5"),
                usage=TokenUsage(input_tokens=1000, output_tokens=0),
                created_at=T0 + timedelta(minutes=30),
            )
        )
        await uow.calls.add(a_call(None, created_at=T0 + timedelta(minutes=5)))
        await uow.summaries.add(a_summary(mine, 1, from_seq=1, to_seq=4))
        await uow.commit()
    return mine.id, theirs.id


async def test_percentiles_interpolate_like_percentile_cont_on_both_databases(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    await _seed(uow_factory)
    figures = await SqlAnalytics(engine).overview("acme", Period())

    assert figures.turns == len(LATENCIES)
    assert figures.calls == len(LATENCIES) + 1  # the summary call counts in calls and tokens
    assert figures.tokens == 120 * (len(LATENCIES) + 1)
    assert figures.latency_p50 == statistics.median(LATENCIES)
    assert abs(figures.latency_p95 - interpolated(LATENCIES, 0.95)) < 1e-9  # type: ignore[operator]
    assert figures.errors == 0


async def test_series_split_by_bucket_and_key_and_sum_to_the_overview(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    await _seed(uow_factory)
    analytics = SqlAnalytics(engine)

    by_provider = await analytics.timeseries(None, Period(), "hour", "provider")
    assert [s.key for s in by_provider] == ["anthropic", "openai"]
    openai = by_provider[1]
    assert [p.start for p in openai.points] == [
        T0.replace(minute=0, second=0, microsecond=0),
        T0.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
    ]
    assert openai.points[0].figures.turns == len(LATENCIES) + 1  # the call without a session
    anthropic = by_provider[0].points[0].figures
    assert (anthropic.errors, anthropic.turns, anthropic.cost) == (1, 1, Decimal("0.5"))

    every = await analytics.overview(None, Period())
    for group_by in ("provider", "model", "tenant"):
        series = await analytics.timeseries(None, Period(), "minute", group_by)  # type: ignore[arg-type]
        points = [p.figures for s in series for p in s.points]
        assert sum(f.calls for f in points) == every.calls
        assert sum(f.tokens for f in points) == every.tokens
        assert sum((f.cost for f in points), Decimal(0)) == every.cost

    tenants = await analytics.timeseries(None, Period(), "day", "tenant")
    assert [s.key for s in tenants] == [NO_TENANT, "acme", "globex"]
    models = await analytics.timeseries("acme", Period(), "day", "model")
    assert [s.key for s in models] == ["openai/gpt-4o-mini"]

    later = await analytics.overview(None, Period(since=T0 + timedelta(minutes=10)))
    assert later.calls == 2  # the failed anthropic call and the summary an hour on


async def test_session_table_searches_filters_sorts_and_pages(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    mine, theirs = await _seed(uow_factory)
    analytics = SqlAnalytics(engine)

    page, total = await analytics.sessions(SessionQuery(owner=None, sort="cost"))
    assert total == 2
    assert [t.session.id for t in page] == [theirs, mine]
    assert page[0].providers == ("anthropic",)
    assert page[1].tokens == 120 * (len(LATENCIES) + 1)

    ascending = await analytics.sessions(SessionQuery(owner=None, sort="tokens", descending=False))
    assert [t.session.id for t in ascending[0]] == [mine, theirs]
    recent, _ = await analytics.sessions(SessionQuery(owner=None, limit=1))
    assert [t.session.id for t in recent] == [mine]
    second, _ = await analytics.sessions(SessionQuery(owner=None, limit=1, offset=1))
    assert [t.session.id for t in second] == [theirs]

    assert (await analytics.sessions(SessionQuery(owner="acme")))[1] == 1
    found, count = await analytics.sessions(SessionQuery(owner=None, search="BO"))
    assert (count, [t.session.id for t in found]) == (1, [theirs])
    found, _ = await analytics.sessions(SessionQuery(owner=None, search=mine[5:15]))
    assert [t.session.id for t in found] == [mine]
    found, _ = await analytics.sessions(SessionQuery(owner=None, provider="anthropic"))
    assert [t.session.id for t in found] == [theirs]
    window = Period(since=T0 + timedelta(minutes=90))
    found, _ = await analytics.sessions(SessionQuery(owner=None, period=window))
    assert [t.session.id for t in found] == [mine]

    exported = [t.session.id async for t in analytics.export(SessionQuery(owner=None))]
    assert exported == [mine, theirs]


async def test_trail_lists_summary_folds_and_calls_of_the_owners_session_only(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    mine, _ = await _seed(uow_factory)
    analytics = SqlAnalytics(engine)

    trail = await analytics.trail("acme", mine)
    assert trail is not None
    assert [(s.from_seq, s.to_seq) for s in trail.summaries] == [(1, 4)]
    assert [c.latency_s for c in trail.calls] == [*LATENCIES, 9.0]
    assert trail.calls[-1].kind == "summary"
    assert await analytics.trail("globex", mine) is None
    assert await analytics.trail(None, "sess_missing") is None
