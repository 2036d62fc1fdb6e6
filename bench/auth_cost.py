"""``python bench/auth_cost.py [--rounds N]``: what a credential costs per turn.

Two gateways run side by side on the same core, each ``python main.py`` on its own SQLite
file against one fake upstream: one in open mode, one with ``ADMIN_API_KEY`` set. Turns go
one at a time, taking turns between three kinds, so all see the same machine state:

* ``open``: open mode, no credential;
* ``key``: an issued API key without limits (a digest lookup in the database per request);
* ``key+limits``: a key with turns and tokens per minute and a budget (also the limiter's
  take and charge, the budget's SUM over the key's call records, the X-RateLimit headers).

Prints the medians and the differences as a Markdown table (docs/benchmarks.md quotes it).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import Connection, figures
from bench.processes import HOST, fake_upstream, gateway
from bench.suite import cores

ADMIN = "bench-admin-" + "x" * 32
ORCHESTRATE = "/api/orchestrate"


def call(port: int, method: str, path: str, body: Any, token: str | None = None) -> Any:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {answer}")
        return answer
    finally:
        connection.close()


def turn_bodies(port: int, token: str | None, count: int = 4) -> list[bytes]:
    sessions = [call(port, "POST", "/api/sessions", {}, token)["session_id"] for _ in range(count)]
    return [json.dumps({"message": "hello", "session_id": s}).encode() for s in sessions]


async def interleave(kinds: dict[str, tuple[int, str | None, list[bytes]]], rounds: int) -> Any:
    connections = {
        name: Connection(
            HOST, port, ORCHESTRATE, {"Authorization": f"Bearer {token}"} if token else None
        )
        for name, (port, token, _) in kinds.items()
    }
    latencies: dict[str, list[float]] = {name: [] for name in kinds}
    errors = dict.fromkeys(kinds, 0)
    started = time.perf_counter()
    try:
        for index in range(rounds):
            for name, (_, _, bodies) in kinds.items():
                before = time.perf_counter()
                status = await connections[name].post(bodies[index % len(bodies)])
                if status == 200:
                    latencies[name].append(time.perf_counter() - before)
                else:
                    errors[name] += 1
    finally:
        for connection in connections.values():
            connection.close()
    elapsed = time.perf_counter() - started
    return {name: figures(latencies[name], errors[name], elapsed) for name in kinds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)
    service_core, load_core = cores()
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    with (
        tempfile.TemporaryDirectory(prefix="orchestrator-auth-bench-") as tmp,
        fake_upstream(load_core) as upstream,
    ):
        (Path(tmp) / "open").mkdir()
        (Path(tmp) / "keyed").mkdir()
        with (
            gateway(upstream, service_core, Path(tmp) / "open") as open_mode,
            gateway(upstream, service_core, Path(tmp) / "keyed", {"ADMIN_API_KEY": ADMIN}) as keyed,
        ):
            plain = call(keyed.port, "POST", "/api/admin/keys", {"name": "plain"}, ADMIN)["key"]
            limits = {"rate_limit_rpm": 10**9, "token_limit_tpm": 10**12, "budget_usd": 10**6}
            limited = call(
                keyed.port, "POST", "/api/admin/keys", {"name": "limited", **limits}, ADMIN
            )["key"]
            kinds = {
                "open": (open_mode.port, None, turn_bodies(open_mode.port, None)),
                "key": (keyed.port, plain, turn_bodies(keyed.port, plain)),
                "key+limits": (keyed.port, limited, turn_bodies(keyed.port, limited)),
            }
            asyncio.run(interleave(kinds, args.warmup))
            results = asyncio.run(interleave(kinds, args.rounds))
    base = results["open"]
    print("| turn, 1 connection | p50 | p99 | p50 vs open | turns | errors |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        delta = result.p50_ms - base.p50_ms
        print(
            f"| {name} | {result.p50_ms:.2f} ms | {result.p99_ms:.2f} ms | "
            f"{delta:+.2f} ms | {result.requests} | {result.errors} |"
        )
    return 0 if all(not r.errors for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
