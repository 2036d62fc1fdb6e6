"""One saturation stage, repeated, for comparing a change before and after it.

``bench/run.py`` measures everything once and writes the document; this runs only the stage a
hot-path change moves (N connections at 0 ms upstream, on SQLite or a throw-away PostgreSQL
database), a few times on the same gateway, and prints turns/s, latency and CPU per turn for
each run, so two commits can be compared by CPU per turn, the steadiest of those figures.

    .venv/bin/python -m bench.probe --connections 16 --runs 3
    .venv/bin/python -m bench.probe --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.probe --py-spy profile.txt   # py-spy record, raw format
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.drivers import choose_driver
from bench.processes import cores, fake_upstream, gateway
from bench.stages import FULL, Bench, warm_up
from bench.throwaway import throwaway_database_if


@contextlib.contextmanager
def _profiled(pid: int, output: str | None) -> Iterator[None]:
    """py-spy on the gateway (GIL-holding samples only, a proxy for CPU) while inside."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--py-spy needs py-spy on PATH")
    argv = [spy, "record", "--rate", "250", "--gil", "--threads", "-f", "raw"]
    process = subprocess.Popen([*argv, "-o", output, "-p", str(pid)])
    try:
        yield
    finally:
        process.send_signal(2)
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="libpq URL of a server for a throw-away database")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--py-spy", dest="py_spy", help="write a py-spy raw profile here")
    args = parser.parse_args(argv)
    service_core, load_core = cores()
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    driver = choose_driver(args.loadgen, load_core)
    with (
        tempfile.TemporaryDirectory(prefix="orchestrator-probe-") as tmp,
        fake_upstream(load_core) as upstream,
        throwaway_database_if(args.postgres) as database_url,
        gateway(upstream, service_core, Path(tmp), database_url) as service,
    ):
        bench = Bench(upstream, service, driver, FULL)
        warm_up(bench)
        cpu = []
        with _profiled(service.pid, args.py_spy):
            for run in range(1, args.runs + 1):
                figures = bench.load(args.connections, args.seconds)
                cpu.append(figures.cpu_ms_per_request)
                print(
                    f"run {run}: {figures.throughput:,.0f} turns/s, p50 {figures.p50_ms:.2f} ms,"
                    f" p99 {figures.p99_ms:.2f} ms, CPU {figures.cpu_ms_per_request:.3f} ms/turn,"
                    f" errors {figures.errors}",
                    flush=True,
                )
        print(f"median CPU {statistics.median(cpu):.3f} ms/turn over {args.runs} run(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
