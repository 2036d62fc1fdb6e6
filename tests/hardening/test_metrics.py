"""Prometheus from in-process counters, cheap global metrics, and route labels by full path.

A scrape used to aggregate every stored call record (seconds at a million rows); now it reads
counters updated per call, and ``/api/metrics`` reads running totals kept with each write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from src.domain.errors import ProviderTimeout
from src.infrastructure.persistence.engine import create_engine
from tests.hardening.conftest import Served
from tests.hardening.processes import ROOT

LABELS = 'model="fake-1",provider="fake"'


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus exposition (labels in any order)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if found == labels:
            return float(match.group(2))
    raise AssertionError(f"no {name} {labels}")


@contextmanager
def sql_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine of this process runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(Engine, "before_cursor_execute", record)


async def test_a_scrape_reads_counters_updated_per_call_and_runs_no_query(served: Served) -> None:
    first = await served.client.post("/api/orchestrate", json={"message": "one"})
    sid = first.json()["session_id"]
    await served.client.post("/api/orchestrate", json={"message": "two", "session_id": sid})
    served.provider.queue.append(ProviderTimeout("fake", "no answer in time"))
    failed = await served.client.post(
        "/api/orchestrate", json={"message": "three", "session_id": sid}
    )
    assert failed.status_code == 504

    with sql_statements() as statements:
        scraped = (await served.client.get("/metrics")).text
    totals = (await served.client.get("/api/metrics")).json()["providers"]["fake"]

    assert statements == []
    turns = {"provider": "fake", "model": "fake-1", "outcome": "ok"}
    assert sample(scraped, "orchestrator_turn_duration_seconds_count", **turns) == 2
    call = {"provider": "fake", "model": "fake-1", "kind": "turn"}
    assert (
        sample(scraped, "orchestrator_provider_call_duration_seconds_count", **call, outcome="ok")
        == 2
    )
    assert (
        sample(
            scraped,
            "orchestrator_provider_errors_total",
            provider="fake",
            model="fake-1",
            code="ProviderTimeout",
        )
        == 1
    )
    input_tokens = sample(scraped, "orchestrator_tokens_total", **call, type="input")
    output_tokens = sample(scraped, "orchestrator_tokens_total", **call, type="output")
    assert input_tokens + output_tokens == totals["tokens"]
    cost = sample(scraped, "orchestrator_cost_usd_total", **call)
    assert abs(cost - totals["cost"]) < 1e-12 and cost > 0
    assert totals["requests"] == 3 and abs(totals["success_rate"] - 2 / 3) < 1e-9


async def test_global_totals_read_the_running_totals_not_the_call_records(
    served: Served,
) -> None:
    """The totals come from the rollups the database keeps with each call: with the call
    records themselves gone, /api/metrics still counts the turn."""
    await served.client.post("/api/orchestrate", json={"message": "one"})
    engine = create_engine(served.database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM provider_calls"))
            rollups = (
                await connection.execute(sa.text("SELECT sum(calls) FROM call_rollups"))
            ).scalar()
    finally:
        await engine.dispose()

    body = (await served.client.get("/api/metrics")).json()
    assert rollups == 1
    assert body["providers"]["fake"]["requests"] == 1


async def test_route_labels_keep_the_full_path(served: Served) -> None:
    sid = (await served.client.post("/api/sessions", json={})).json()["session_id"]
    await served.client.get(f"/api/sessions/{sid}/history")
    await served.client.get("/api/metrics")
    await served.client.get("/api/metrics")
    await served.client.get("/metrics")
    scraped = (await served.client.get("/metrics")).text

    http = "orchestrator_http_requests_total"
    assert sample(scraped, http, method="GET", route="/api/metrics", status="200") == 2
    assert sample(scraped, http, method="GET", route="/metrics", status="200") == 1
    history = "/api/sessions/{session_id}/history"
    assert sample(scraped, http, method="GET", route=history, status="200") == 1


async def test_the_grafana_dashboard_and_readme_queries_name_metrics_that_exist(
    served: Served,
) -> None:
    await served.client.post("/api/orchestrate", json={"message": "one"})
    scraped = (await served.client.get("/metrics")).text
    families = set(re.findall(r"^# TYPE (orchestrator_\w+) ", scraped, re.MULTILINE))
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    readme = (ROOT / "README.md").read_text()
    promql = readme.split("```promql", 1)[1].split("```", 1)[0]

    named = set(re.findall(r"orchestrator_\w+", " ".join(queries) + promql))
    unknown = {n for n in named if re.sub(r"_(bucket|count|sum)$", "", n) not in families}
    assert named and not unknown, unknown
