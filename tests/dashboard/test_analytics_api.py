"""The dashboard's JSON reads over HTTP: they reconcile with ``/api/metrics``, the table
searches, filters, sorts and pages, the CSV matches it, and bad parameters get a clear 4xx."""

from __future__ import annotations

import csv
import io
import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard.conftest import Population


def _global(populated: Population) -> tuple[int, int, float]:
    providers = populated.service.get("/api/metrics")["providers"]
    return (
        sum(p["requests"] for p in providers.values()),
        sum(p["tokens"] for p in providers.values()),
        sum(p["cost"] for p in providers.values()),
    )


@pytest.mark.parametrize("group_by", ["provider", "model", "tenant"])
@pytest.mark.parametrize("bucket", ["minute", "hour", "day"])
def test_time_series_sum_to_the_global_metrics(
    populated: Population, group_by: str, bucket: str
) -> None:
    body = populated.service.get(f"/api/metrics/timeseries?bucket={bucket}&group_by={group_by}")
    points = [p for s in body["series"] for p in s["points"]]
    calls, tokens, cost = _global(populated)

    assert body["bucket"] == bucket
    assert sum(p["calls"] for p in points) == calls
    assert sum(p["tokens"] for p in points) == tokens
    assert math.isclose(sum(p["cost"] for p in points), cost, rel_tol=1e-9)
    assert sum(p["turns"] for p in points) == populated.turns
    assert sum(p["errors"] for p in points) == populated.failed
    if group_by == "provider":
        assert {s["key"] for s in body["series"]} == {"openai", "anthropic", "gemini"}
    if group_by == "tenant":
        assert [s["key"] for s in body["series"]] == ["default"]


def test_overview_reconciles_and_counts_the_failed_turn(populated: Population) -> None:
    overview = populated.service.get("/api/metrics/overview")
    calls, tokens, cost = _global(populated)

    assert (overview["calls"], overview["tokens"]) == (calls, tokens)
    assert math.isclose(overview["cost"], cost, rel_tol=1e-9)
    assert overview["turns"] == populated.turns
    assert overview["calls"] > overview["turns"]  # alice's summary fold is a call too
    assert overview["error_rate"] == pytest.approx(populated.failed / populated.turns)
    assert 0 < overview["latency_p50"] <= overview["latency_p95"]

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    empty = populated.service.http.get("/api/metrics/overview", params={"since": future})
    assert empty.json()["turns"] == 0 and empty.json()["latency_p50"] is None


def test_session_table_searches_filters_sorts_and_pages(populated: Population) -> None:
    http = populated.service.http
    ids = populated.sessions

    page = http.get("/api/metrics/sessions").json()
    assert page["total"] == 3
    # carol spoke last; the failed turn on bob's session changed nothing
    assert [s["user_id"] for s in page["sessions"]] == ["carol", "bob", "alice"]

    alice = http.get("/api/metrics/sessions", params={"q": "ALI"}).json()
    assert [s["session_id"] for s in alice["sessions"]] == [ids["alice"]]
    assert alice["sessions"][0]["providers"] == ["openai"]
    by_id = http.get("/api/metrics/sessions", params={"q": ids["carol"][-10:]}).json()
    assert [s["user_id"] for s in by_id["sessions"]] == ["carol"]

    openai = http.get("/api/metrics/sessions", params={"provider": "openai"}).json()
    assert {s["user_id"] for s in openai["sessions"]} == {"alice", "bob"}

    by_cost = http.get("/api/metrics/sessions", params={"sort": "cost"}).json()["sessions"]
    costs = [s["cost"] for s in by_cost]
    assert costs == sorted(costs, reverse=True)
    by_tokens = http.get("/api/metrics/sessions", params={"sort": "tokens", "order": "asc"})
    tokens = [s["tokens"] for s in by_tokens.json()["sessions"]]
    assert tokens == sorted(tokens)

    first = http.get("/api/metrics/sessions", params={"limit": 2}).json()
    second = http.get("/api/metrics/sessions", params={"limit": 2, "offset": 2}).json()
    assert len(first["sessions"]) == 2 and len(second["sessions"]) == 1
    assert {s["session_id"] for s in first["sessions"] + second["sessions"]} == set(ids.values())

    for session in page["sessions"]:
        metrics = populated.service.get(f"/api/sessions/{session['session_id']}/metrics")
        assert session["tokens"] == metrics["total_tokens"]
        assert math.isclose(session["cost"], metrics["total_cost"], rel_tol=1e-9)


def test_csv_export_parses_and_matches_the_table(populated: Population) -> None:
    response = populated.service.http.get("/api/sessions/export.csv", params={"sort": "cost"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    table = populated.service.get("/api/metrics/sessions?sort=cost")["sessions"]

    assert [r["session_id"] for r in rows] == [s["session_id"] for s in table]
    for row, session in zip(rows, table, strict=True):
        assert row["user_id"] == session["user_id"]
        assert int(row["tokens"]) == session["tokens"]
        assert float(row["cost"]) == session["cost"]
        assert int(row["message_count"]) == session["message_count"]
        assert row["providers"].split(";") == session["providers"]

    only_bob = populated.service.http.get("/api/sessions/export.csv", params={"q": "bob"})
    assert [r["user_id"] for r in csv.DictReader(io.StringIO(only_bob.text))] == ["bob"]


def test_trail_shows_the_summary_fold_and_each_call(populated: Population) -> None:
    alice = populated.sessions["alice"]
    trail = populated.service.get(f"/api/metrics/sessions/{alice}/trail")

    folds = trail["summaries"]
    assert folds and folds[0]["from_seq"] == 1
    for earlier, later in itertools.pairwise(folds):
        assert later["from_seq"] == earlier["to_seq"] + 1  # each fold starts where one ended
    kinds = [c["kind"] for c in trail["calls"]]
    assert kinds.count("turn") == 4 and kinds.count("summary") == len(folds)

    missing = populated.service.http.get("/api/metrics/sessions/sess_nope/trail")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "session_not_found"


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/metrics/timeseries", {"bucket": "week"}, 422, "bucket"),
        ("/api/metrics/timeseries", {"group_by": "colour"}, 422, "group_by"),
        (
            "/api/metrics/timeseries",
            {"bucket": "minute", "since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},
            400,
            "bucket",
        ),
        ("/api/metrics/overview", {"since": "2026-02-01", "until": "2026-01-01"}, 400, "since"),
        ("/api/metrics/overview", {"since": "yesterday"}, 422, "since"),
        ("/api/metrics/sessions", {"sort": "colour"}, 422, "sort"),
        ("/api/metrics/sessions", {"limit": 1000}, 422, "limit"),
        ("/api/sessions/export.csv", {"order": "sideways"}, 422, "order"),
    ],
)
def test_bad_parameters_get_a_clear_error_naming_the_field(
    populated: Population, path: str, params: dict[str, str], status: int, field: str
) -> None:
    response = populated.service.http.get(path, params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert field in error["message"] or field in str(error["details"])
