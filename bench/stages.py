"""The stages of the benchmark, each turning load runs into rows of the one result table.

Every turn goes through the database: each load connection has its own sessions (created
before the run), so each turn reads the session and its live window and writes two messages,
a call record and the session row. The upstream is called directly, with a body of the same
shape, in the same run and with the same driver, so the overhead is the gateway's alone.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bench.drivers import Driver
from bench.loadgen import Figures, alternate
from bench.processes import HOST, PeakRss, Service, Upstream, cpu_seconds, request, rss_mb
from bench.seed import seed_history
from src.infrastructure.settings import Settings

ORCHESTRATE = "/api/orchestrate"
CHAT = "/v1/chat/completions"
MESSAGE = "Explain AI simply, in one sentence."
SESSIONS_PER_CONNECTION = 2
# What a summarization leaves live: SESSION_KEEP_RECENT, which the bench's gateway leaves at
# its default.
LIVE_WINDOW: int = Settings.model_fields["session_keep_recent"].default
SMALL_HISTORY = 10
# What the gateway sends upstream for a turn with a summary and a six-message live window.
DIRECT_BODY = json.dumps(
    {
        "model": "gpt-5.4-mini",
        "messages": [
            {"role": "system", "content": "Summary of the earlier conversation:\n" + "x" * 80},
            *(
                {"role": role, "content": MESSAGE}
                for role in ("user", "assistant") * (LIVE_WINDOW // 2)
            ),
            {"role": "user", "content": MESSAGE},
        ],
    }
).encode()


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: int  # each measured load run (wrk counts whole seconds)
    warmup_seconds: int
    startups: int
    seeded_messages: int
    size_sessions: int  # sessions per history size in the session-size stage
    size_rounds: int
    connections: tuple[int, int] = (16, 128)  # the saturation runs; the second also at 50 ms
    postgres_connections: tuple[int, int] = (16, 64)


FULL = Plan(seconds=8, warmup_seconds=3, startups=3, seeded_messages=10_000, size_sessions=10,
            size_rounds=300)  # fmt: skip
# Few connections: at 128, a one-second run would end before a single turn had completed.
SMOKE = Plan(seconds=1, warmup_seconds=1, startups=1, seeded_messages=200, size_sessions=1,
             size_rounds=5, connections=(2, 4), postgres_connections=(2, 4))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Row:
    measure: str
    value: str
    detail: str
    target: str = ""
    met: bool | None = None  # None: no target for this row


@dataclass(frozen=True, slots=True)
class Targets:
    """What the issue asks of each database, on one core."""

    overhead_p50_ms: float
    overhead_p99_ms: float | None
    turns_per_s: int


SQLITE_TARGETS = Targets(overhead_p50_ms=1.5, overhead_p99_ms=5.0, turns_per_s=1000)
POSTGRES_TARGETS = Targets(overhead_p50_ms=2.5, overhead_p99_ms=None, turns_per_s=800)


@dataclass(slots=True)
class Bench:
    upstream: Upstream
    service: Service
    driver: Driver
    plan: Plan
    targets: Targets = SQLITE_TARGETS
    label: str = ""  # before each row's measure, for the runs on another database
    rows: list[Row] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    def sessions(self, count: int) -> list[str]:
        ids = []
        for _ in range(count):
            status, body = request(self.service.port, "POST", "/api/sessions", {})
            if status != 201:
                raise RuntimeError(f"POST /api/sessions answered {status}: {body}")
            ids.append(body["session_id"])
        return ids

    def turn_bodies(self, connections: int) -> list[list[bytes]]:
        ids = self.sessions(connections * SESSIONS_PER_CONNECTION)
        bodies = [_turn_body(i) for i in ids]
        step = SESSIONS_PER_CONNECTION
        return [bodies[i * step : (i + 1) * step] for i in range(connections)]

    def load(self, connections: int, seconds: int | None = None) -> Figures:
        """The gateway under ``connections`` closed-loop clients, RSS sampled meanwhile."""
        bodies = self.turn_bodies(connections)
        pid = self.service.pid
        with PeakRss(pid) as rss:
            before = cpu_seconds(pid)
            figures = self.driver.run(
                self.service.port, ORCHESTRATE, bodies, seconds or self.plan.seconds
            )
            figures = replace(figures, cpu_s=cpu_seconds(pid) - before)
        self.peak_rss_mb = max(self.peak_rss_mb, rss.peak_mb)
        return checked(figures, f"gateway, {connections} connection(s)")

    def direct(self, connections: int) -> Figures:
        bodies = [[DIRECT_BODY]] * connections
        figures = self.driver.run(self.upstream.port, CHAT, bodies, self.plan.seconds)
        return checked(figures, f"upstream direct, {connections} connection(s)")


def _turn_body(session_id: str) -> bytes:
    return json.dumps({"message": MESSAGE, "session_id": session_id}).encode()


def checked(figures: Figures, what: str) -> Figures:
    """A run is a figure once requests succeeded; failed ones are reported beside it."""
    if figures.requests == 0:
        raise RuntimeError(f"{what}: no request succeeded ({figures.errors} failed)")
    return figures


def failed(*runs: Figures) -> str:
    failed = sum(run.errors for run in runs)
    return f"; **{failed} requests failed**" if failed else ""


def ms(value: float) -> str:
    return f"{value:.2f} ms"


def cpu_per_turn(figures: Figures) -> str:
    """CPU per request of the measured process: steadier than throughput on a shared host."""
    return f"CPU {figures.cpu_ms_per_request:.2f} ms/turn"


def startup(bench: Bench, extra_ready_s: Sequence[float]) -> None:
    """Process start to the first 200 of /api/health/ready, on a fresh database each time."""
    samples = [*extra_ready_s, bench.service.ready_after_s]
    median = statistics.median(samples)
    bench.rows.append(
        Row(
            "ready after process start (median)",
            f"{median:.2f} s",
            f"{len(samples)} start(s) on an empty SQLite file: "
            + ", ".join(f"{s:.2f} s" for s in samples),
            "≤ 2 s",
            median <= 2.0,
        )
    )


def idle_rss(bench: Bench) -> None:
    time.sleep(0.5)
    bench.rows.append(
        Row("RSS idle (after start)", f"{rss_mb(bench.service.pid):.0f} MiB", "VmRSS", "", None)
    )


def warm_up(bench: Bench) -> None:
    """Fills the pools, caches and code paths before anything is measured. One turn goes
    first, untimed: a provider's SDK is imported at its first call (over a second on a slow
    machine), which a short timed run could spend entirely waiting."""
    (session_id,) = bench.sessions(1)
    status, body = request(
        bench.service.port, "POST", ORCHESTRATE, json.loads(_turn_body(session_id)), 30.0
    )
    if status != 200:
        raise RuntimeError(f"the first turn answered {status}: {body}")
    bench.load(bench.plan.connections[0], bench.plan.warmup_seconds)


def overhead(bench: Bench) -> None:
    direct = bench.direct(1)
    served = bench.load(1)
    targets = bench.targets
    for name, limit, ours, theirs in (
        ("p50", targets.overhead_p50_ms, served.p50_ms, direct.p50_ms),
        ("p99", targets.overhead_p99_ms, served.p99_ms, direct.p99_ms),
    ):
        bench.rows.append(
            Row(
                f"{bench.label}overhead {name}, 1 connection",
                ms(ours - theirs),
                f"gateway {ms(ours)} - direct {ms(theirs)} "
                f"({served.requests:,} turns, {direct.requests:,} direct; {cpu_per_turn(served)})"
                f"{failed(served, direct)}",
                "" if limit is None else f"≤ {limit:g} ms",
                None if limit is None else ours - theirs <= limit and not served.errors,
            )
        )


def saturation(bench: Bench, connections: int) -> None:
    direct = bench.direct(connections)
    served = bench.load(connections)
    floor = bench.targets.turns_per_s
    bench.rows.append(
        Row(
            f"{bench.label}turns/s, {connections} connections, upstream 0 ms",
            f"{served.throughput:,.0f}/s",
            f"p50 {ms(served.p50_ms)}, p99 {ms(served.p99_ms)}; "
            f"{cpu_per_turn(served)}; direct {direct.throughput:,.0f}/s{failed(served, direct)}",
            f"≥ {floor:,}/s, no error",
            served.throughput >= floor and not served.errors,
        )
    )


def slow_upstream(bench: Bench, connections: int, latency_ms: int = 50) -> None:
    bench.upstream.set_latency(latency_ms)
    bench.driver.commands.append(f"# upstream latency now {latency_ms} ms (POST /__bench/latency)")
    try:
        direct = bench.direct(connections)
        served = bench.load(connections)
    finally:
        bench.upstream.set_latency(0)
    share = served.throughput / direct.throughput
    bench.rows.append(
        Row(
            f"turns/s, {connections} connections, upstream {latency_ms} ms",
            f"{served.throughput:,.0f}/s = {share:.0%} of direct",
            f"direct {direct.throughput:,.0f}/s; gateway p50 {ms(served.p50_ms)}, "
            f"p99 {ms(served.p99_ms)}{failed(served, direct)}",
            "≥ 80 % of direct",
            share >= 0.8 and not served.errors,
        )
    )


def history_size(bench: Bench) -> None:
    """Turns alternate between sessions of 10 and of N stored messages, one at a time.

    Both kinds start with the same six-message live window (the rest summarized), so the
    context sent upstream is the same and only the stored history differs.
    """
    plan = bench.plan
    small = bench.sessions(plan.size_sessions)
    large = bench.sessions(plan.size_sessions)
    url = bench.service.database_url
    asyncio.run(seed_history(url, small, SMALL_HISTORY, LIVE_WINDOW))
    asyncio.run(seed_history(url, large, plan.seeded_messages, LIVE_WINDOW))
    bench.driver.commands.append(
        f"bench.loadgen.alternate(http://{HOST}:{bench.service.port}{ORCHESTRATE}, "
        f"{plan.size_rounds} rounds over {plan.size_sessions}+{plan.size_sessions} sessions)"
    )
    groups = {
        "small": [_turn_body(i) for i in small],
        "large": [_turn_body(i) for i in large],
    }
    figures = asyncio.run(
        alternate(HOST, bench.service.port, ORCHESTRATE, groups, plan.size_rounds)
    )
    short, long = (checked(figures[k], f"{k} sessions") for k in ("small", "large"))
    change = long.p50_ms / short.p50_ms - 1
    bench.rows.append(
        Row(
            f"turn p50, {plan.seeded_messages:,} vs {SMALL_HISTORY} stored messages",
            f"{change:+.1%}",
            f"{SMALL_HISTORY}: p50 {ms(short.p50_ms)}, p99 {ms(short.p99_ms)}; "
            f"{plan.seeded_messages:,}: p50 {ms(long.p50_ms)}, p99 {ms(long.p99_ms)} "
            f"({short.requests} turns each){failed(short, long)}",
            "≤ +10 %",
            change <= 0.10 and not (short.errors or long.errors),
        )
    )


def logged_errors(bench: Bench) -> None:
    """Why requests failed, in the gateway's own words, for the notes under the table."""
    bench.notes.extend(f"The gateway logged: `{line}`" for line in bench.service.errors_logged())


def loaded_rss(bench: Bench) -> None:
    bench.rows.append(
        Row(
            "RSS under load (peak)",
            f"{bench.peak_rss_mb:.0f} MiB",
            "VmRSS sampled every 100 ms during every gateway run",
            "≤ 150 MB",
            bench.peak_rss_mb * 1024 * 1024 <= 150e6,
        )
    )
