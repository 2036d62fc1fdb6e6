"""The same gateway on PostgreSQL, when a server is given: overhead and throughput stages.

``--postgres URL`` names a database on a server where the benchmark may create and drop a
throw-away database of its own (``orchestrator_bench_<hex>``), e.g. the ``test`` database of
the local server. The gateway then runs a second time, on that database, with the same
production settings, pinned the same way; the PostgreSQL server itself is not pinned and
shares the machine with everything else.
"""

from __future__ import annotations

from bench.stages import POSTGRES_TARGETS, Bench, overhead, saturation, warm_up


def postgres_stages(bench: Bench, connections: tuple[int, ...]) -> None:
    """``bench`` is a run on the PostgreSQL gateway: its rows go to the one table."""
    bench.targets, bench.label = POSTGRES_TARGETS, "PostgreSQL: "
    warm_up(bench)
    overhead(bench)
    for count in connections:
        saturation(bench, count)
