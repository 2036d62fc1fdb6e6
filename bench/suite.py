"""Runs every stage against one fake upstream and one gateway, prints the table and (full
run) writes it into docs/benchmarks.md.

Cores: the gateway gets the first core of this process's affinity, everything else (the fake
upstream, the load generator, this script) the second, so the gateway's figures are those
of one core. On a single core nothing is pinned, and the document says so.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
from pathlib import Path

from bench.drivers import choose_driver
from bench.floor import floor_stage
from bench.litellm import find_litellm, litellm_proxy, side_by_side
from bench.postgres import postgres_stages
from bench.processes import ROOT, cores, fake_upstream, gateway
from bench.report import section, table, write_section
from bench.stages import (
    FULL,
    SMOKE,
    Bench,
    Plan,
    history_size,
    idle_rss,
    loaded_rss,
    logged_errors,
    overhead,
    saturation,
    slow_upstream,
    startup,
    warm_up,
)
from bench.throwaway import throwaway_database

DOC = ROOT / "docs" / "benchmarks.md"


def run(
    plan: Plan, loadgen: str, litellm: str | None, postgres: str | None
) -> tuple[Bench, list[str]]:
    service_core, load_core = cores()
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    driver = choose_driver(loadgen, load_core)
    with (
        tempfile.TemporaryDirectory(prefix="orchestrator-bench-") as tmp,
        fake_upstream(load_core) as upstream,
    ):
        extra_starts = []
        for index in range(plan.startups - 1):
            workdir = Path(tmp, f"start-{index}")
            workdir.mkdir()
            with gateway(upstream, service_core, workdir) as probe:
                extra_starts.append(probe.ready_after_s)
        workdir = Path(tmp, "main")
        workdir.mkdir()
        with gateway(upstream, service_core, workdir) as service:
            bench = Bench(upstream, service, driver, plan)
            startup(bench, extra_starts)
            idle_rss(bench)
            warm_up(bench)
            overhead(bench)
            for connections in plan.connections:
                saturation(bench, connections)
            floor_stage(bench, service_core)
            slow_upstream(bench, plan.connections[-1])
            history_size(bench)
            loaded_rss(bench)
            if litellm is None:
                bench.notes.append(
                    "LiteLLM not compared: no `litellm` executable (see bench/litellm.py)."
                )
            else:
                workdir = Path(tmp, "litellm")
                workdir.mkdir()
                with litellm_proxy(litellm, upstream, service_core, workdir) as proxy:
                    side_by_side(bench, proxy, plan.connections[0])
            if postgres is None:
                bench.notes.append("PostgreSQL not measured: no --postgres URL given.")
            else:
                _on_postgres(bench, postgres, service_core, Path(tmp, "postgres"))
            logged_errors(bench)
            environment = " ".join(
                f"{k}={shlex.quote(v)}"
                for k, v in service.environment.items()
                if k not in {"PATH", "HOME", "LANG"}
            )
            commands = [
                f"# fake upstream\n{shlex.join(upstream.command)}",
                f"# gateway (cwd: a fresh temporary directory)\n{environment} "
                f"{shlex.join(service.command)}",
                f"# load ({driver.name}), in stage order",
                *driver.commands,
            ]
    return bench, [_shown(c, tmp) for c in commands]


def _on_postgres(bench: Bench, admin_url: str, core: int | None, workdir: Path) -> None:
    """The PostgreSQL stages on a second gateway; their rows join ``bench``'s."""
    workdir.mkdir()
    with (
        throwaway_database(admin_url) as database_url,
        gateway(bench.upstream, core, workdir, database_url) as service,
    ):
        bench.driver.commands.append(
            f"# gateway again, DATABASE_URL={database_url.rsplit('/', 1)[0]}/<throw-away db>"
        )
        on_postgres = Bench(bench.upstream, service, bench.driver, bench.plan, rows=bench.rows)
        postgres_stages(on_postgres, bench.plan.postgres_connections)
        bench.notes.extend(f"On PostgreSQL: {e}" for e in service.errors_logged())


def _shown(command: str, tmp: str) -> str:
    """A command as the document shows it: no path of this machine, only the repository's."""
    return command.replace(sys.executable, "python").replace(f"{ROOT}/", "").replace(tmp, "$TMPDIR")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks the gateway on loopback.")
    parser.add_argument(
        "--smoke", action="store_true", help="every stage for ~1 s with tiny counts"
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when installed, else the Python load generator",
    )
    parser.add_argument(
        "--litellm",
        help="the litellm executable of a separate environment, to compare with side by side "
        "(default: litellm on PATH; skipped when there is none)",
    )
    parser.add_argument(
        "--postgres",
        help="a libpq URL of a PostgreSQL database whose server may get a throw-away "
        "database for the PostgreSQL stages (e.g. postgresql://postgres@127.0.0.1:5432/test); "
        "skipped without it",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"document to write the table into (default: {DOC.relative_to(ROOT)} for a full "
        "run, none for --smoke)",
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the upstream and the gateway are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = SMOKE if args.smoke else FULL
    output = args.output or (None if args.smoke else DOC)
    try:
        bench, commands = run(plan, args.loadgen, find_litellm(args.litellm), args.postgres)
    except RuntimeError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(table(bench.rows))
    for note in bench.notes:
        print(f"- {note}")
    if output is not None:
        mode = "smoke run" if args.smoke else "full run"
        write_section(output, section(bench.rows, bench.notes, commands, mode))
        print(f"written to {output}")
    return 0
