"""Times the dashboard's reads on a database holding 100,000 sessions (``python -m
bench.dashboard [--sessions N] [--database-url URL]``).

Sessions and their call records are written through the gateway's own unit of work (rows
exactly as the gateway writes them), spread over 30 days across four providers, three calls
per session. Each read of ``SqlAnalytics`` is then run a few times and its median printed, as
a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from src.domain.accounting import new_id
from src.domain.analytics import Period, SessionQuery
from src.domain.entities import DEFAULT_OWNER, CallRecord, Session
from src.domain.llm import TokenUsage
from src.infrastructure.persistence.analytics import SqlAnalytics
from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.migrate import upgrade_database
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory

PROVIDERS = ("openai", "anthropic", "gemini", "mistral")
BATCH = 2000


async def seed(database_url: str, sessions: int) -> None:
    engine = create_engine(database_url, pool_size=1)
    units = SqlUnitOfWorkFactory(engine)
    rng = random.Random(7)
    now = datetime.now(UTC)
    try:
        for start in range(0, sessions, BATCH):
            async with units() as uow:
                for i in range(start, min(start + BATCH, sessions)):
                    at = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
                    session = Session(
                        id=new_id("sess"),
                        created_at=at,
                        updated_at=at + timedelta(minutes=3),
                        owner=DEFAULT_OWNER,
                        user_id=f"user_{i % 5000}",
                        message_count=6,
                    )
                    await uow.sessions.add(session)
                    for turn in range(3):
                        provider = PROVIDERS[(i + turn) % len(PROVIDERS)]
                        await uow.calls.add(
                            CallRecord(
                                id=new_id("call"),
                                session_id=session.id,
                                kind="turn",
                                provider=provider,
                                model=f"{provider}-model",
                                usage=TokenUsage(
                                    input_tokens=rng.randint(50, 900), output_tokens=40
                                ),
                                cost=Decimal(rng.randint(1, 900)) / Decimal(10**6),
                                latency_s=rng.lognormvariate(-1, 0.5),
                                created_at=at + timedelta(minutes=turn),
                                ok=rng.random() > 0.02,
                            )
                        )
                await uow.commit()
    finally:
        await engine.dispose()


async def analyze(database_url: str) -> None:
    """Planner statistics, as PostgreSQL's autovacuum gathers them after a bulk load
    (SQLite keeps none unless asked, so it is measured without)."""
    if not database_url.startswith("postgresql"):
        return
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("ANALYZE"))
            await connection.commit()
    finally:
        await engine.dispose()


async def median_ms(read: Callable[[], Awaitable[Any]], runs: int = 5) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await read()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def measure(database_url: str) -> list[tuple[str, float]]:
    engine = create_engine(database_url, pool_size=2)
    analytics = SqlAnalytics(engine)
    day = Period(since=datetime.now(UTC) - timedelta(days=1))
    week = Period(since=datetime.now(UTC) - timedelta(days=7))
    owner = DEFAULT_OWNER
    reads: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("overview, last 24 hours", lambda: analytics.overview(owner, day)),
        ("overview, all 30 days", lambda: analytics.overview(owner, Period())),
        (
            "time series, 7 days by hour and provider",
            lambda: analytics.timeseries(owner, week, "hour", "provider"),
        ),
        (
            "time series, 30 days by day and model",
            lambda: analytics.timeseries(owner, Period(), "day", "model"),
        ),
        (
            "sessions page, by last activity",
            lambda: analytics.sessions(SessionQuery(owner, limit=25)),
        ),
        (
            "sessions page 100, by last activity",
            lambda: analytics.sessions(SessionQuery(owner, limit=25, offset=2500)),
        ),
        (
            "sessions page, by cost",
            lambda: analytics.sessions(SessionQuery(owner, sort="cost", limit=25)),
        ),
        (
            "sessions page, by tokens ascending",
            lambda: analytics.sessions(
                SessionQuery(owner, sort="tokens", descending=False, limit=25)
            ),
        ),
        (
            "sessions page, search user id",
            lambda: analytics.sessions(SessionQuery(owner, search="user_42", limit=25)),
        ),
        (
            "sessions page, provider filter",
            lambda: analytics.sessions(SessionQuery(owner, provider="gemini", limit=25)),
        ),
    ]
    try:
        return [(name, await median_ms(read)) for name, read in reads]
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--database-url", help="a database to use instead of a new SQLite file")
    parser.add_argument("--no-seed", action="store_true", help="measure the database as it is")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'dashboard.db'}"
        await upgrade_database(url)
        if not args.no_seed:
            started = time.perf_counter()
            await seed(url, args.sessions)
            print(f"seeded {args.sessions} sessions in {time.perf_counter() - started:.0f} s")
        await analyze(url)
        print("| read | median ms |\n|---|---:|")
        for name, ms in await measure(url):
            print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
