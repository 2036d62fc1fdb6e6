"""``python bench/metrics_scale.py [--records N] [--database-url URL]``: what the metrics cost
with few and with many call records stored.

For 10 records and for ``--records`` (default a million) it seeds a fresh database through the
gateway's own unit of work (so the running totals are kept as a turn keeps them), then times,
in process, ``GET /api/metrics`` (running totals), ``GET /metrics`` (in-process counters) and,
for comparison, the aggregate over every call record that ``/api/metrics`` used to run. It
prints the medians as a Markdown table (docs/benchmarks.md, "Metrics at a million call
records"). Bounded: the seeding is the only long part (about a minute per million on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import sqlalchemy as sa

from src.api.app import create_app
from src.bootstrap import bootstrap
from src.domain.accounting import new_id
from src.domain.entities import CallRecord
from src.domain.llm import TokenUsage
from src.infrastructure.persistence.databases import database_for
from src.infrastructure.persistence.engine import create_engine
from src.infrastructure.persistence.migrate import upgrade_database
from src.infrastructure.persistence.tables import PROVIDER_CALLS
from src.infrastructure.persistence.unit_of_work import SqlUnitOfWorkFactory
from src.infrastructure.settings import Settings

BATCH = 20_000
PROVIDERS = ("openai", "anthropic", "gemini", "mistral")
REPEATS = 30


async def seed(database_url: str, records: int) -> None:
    database = database_for(database_url, pool_size=1)
    await database.open()
    units = SqlUnitOfWorkFactory(database)
    now = datetime.now(UTC)
    usage = TokenUsage(input_tokens=120, output_tokens=30, cached_input_tokens=20)
    try:
        for first in range(0, records, BATCH):
            async with units() as uow:
                for i in range(first, min(first + BATCH, records)):
                    await uow.calls.add(
                        CallRecord(
                            id=new_id("call"),
                            session_id=None,
                            kind="summary" if i % 10 == 0 else "turn",
                            provider=PROVIDERS[i % len(PROVIDERS)],
                            model="m",
                            usage=usage,
                            cost=Decimal("0.000066"),
                            latency_s=0.4,
                            created_at=now,
                            ok=i % 50 != 0,
                        )
                    )
                await uow.commit()
    finally:
        await database.aclose()


async def median_ms(action: Callable[[], Awaitable[object]]) -> float:
    await action()  # warm caches and pools
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure(database_url: str) -> dict[str, float]:
    settings = Settings(_env_file=None, database_url=database_url, access_log=False)
    runtime = bootstrap(settings, {})
    app = create_app(runtime.services)
    transport = httpx.ASGITransport(app=app)
    engine = create_engine(database_url, pool_size=1)
    calls = PROVIDER_CALLS.c
    old_aggregate = sa.select(
        calls.provider, calls.kind, sa.func.count(), sa.func.sum(calls.cost)
    ).group_by(calls.provider, calls.kind)

    async def aggregate() -> None:
        async with engine.connect() as connection:
            (await connection.execute(old_aggregate)).all()

    try:
        async with (
            runtime.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):
            return {
                "/api/metrics": await median_ms(lambda: client.get("/api/metrics")),
                "/metrics": await median_ms(lambda: client.get("/metrics")),
                "old aggregate over every record, ms": await median_ms(aggregate),
            }
    finally:
        await engine.dispose()


async def run(records: int, database_url: str | None) -> str:
    rows = []
    for count in (10, records):
        with tempfile.TemporaryDirectory() as folder:
            url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'metrics.db'}"
            await upgrade_database(url)
            started = time.perf_counter()
            await seed(url, count)
            seeded_s = time.perf_counter() - started
            figures = await measure(url)
            if database_url:
                await _empty(url)
        rows.append((count, seeded_s, figures))
    names = list(rows[0][2])
    lines = [
        "| call records | " + " | ".join(f"`{n}` ms" if "/" in n else n for n in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for count, _, figures in rows:
        lines.append(f"| {count:,} | " + " | ".join(f"{figures[n]:.2f}" for n in names) + " |")
    return "\n".join(lines)


async def _empty(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM provider_calls"))
            await connection.execute(sa.text("DELETE FROM call_rollups"))
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url", help="an empty, disposable database (default: a new SQLite file)"
    )
    args = parser.parse_args()
    print(asyncio.run(run(args.records, args.database_url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
