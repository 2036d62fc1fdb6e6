"""``python bench/auth_cost.py [--rounds N]``: what a credential costs per turn.

Two gateways on their own SQLite files against one fake upstream: one in open mode, one with
``ADMIN_API_KEY`` set. Turns go one at a time, taking turns between the kinds in a shuffled
order each round, so all see the same machine state and none always follows another:

* ``open``: open mode, no credential;
* ``admin`` (in process only): the admin key, checked without the database;
* ``key``: an issued API key without limits (a digest lookup in the database per request);
* ``key+limits``: a key with turns and tokens per minute and a budget (also the limiter's
  take and charge, the budget's SUM over the key's call records, the X-RateLimit headers).

Measured twice: **in process** (both applications built by ``build_app`` in this process,
called through ``httpx.ASGITransport`` on one event loop, so nothing differs between the
kinds but the request's path through the code) and **as processes** (two ``python main.py``
on one core, over loopback HTTP; adds each process's own state to the noise). Prints both as
Markdown tables (docs/benchmarks.md quotes them).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.loadgen import Connection, Figures, figures
from bench.processes import HOST, Upstream, cores, fake_upstream, gateway
from src.bootstrap import build_app
from src.infrastructure.settings import Settings

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
    order = list(kinds)
    shuffler = random.Random(7)
    started = time.perf_counter()
    try:
        for index in range(rounds):
            shuffler.shuffle(order)
            for name in order:
                bodies = kinds[name][2]
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


async def in_process(upstream: Upstream, workdir: Path, rounds: int, warmup: int) -> Any:
    env = {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": upstream.base_url}

    def settings(name: str, **extra: Any) -> Settings:
        url = f"sqlite+aiosqlite:///{workdir / name}.db"
        return Settings(
            _env_file=None, database_url=url, access_log=False, provider_max_retries=0, **extra
        )

    open_app = build_app(settings("open"), env)
    keyed_app = build_app(settings("keyed", admin_api_key=ADMIN), env)
    async with (
        open_app.router.lifespan_context(open_app),
        keyed_app.router.lifespan_context(keyed_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(open_app), base_url="http://o") as o,
        httpx.AsyncClient(transport=httpx.ASGITransport(keyed_app), base_url="http://k") as k,
    ):
        admin = {"Authorization": f"Bearer {ADMIN}"}
        limits = {"rate_limit_rpm": 10**9, "token_limit_tpm": 10**12, "budget_usd": 10**6}
        tokens = [
            (await k.post("/api/admin/keys", json={"name": n, **extra}, headers=admin)).json()[
                "key"
            ]
            for n, extra in (("plain", {}), ("limited", limits))
        ]
        kinds = {"open": (o, {}), "admin": (k, admin), "key": (k, {}), "key+limits": (k, {})}
        for name, token in zip(("key", "key+limits"), tokens, strict=True):
            kinds[name] = (k, {"Authorization": f"Bearer {token}"})
        sessions = {
            name: (await client.post("/api/sessions", headers=h)).json()["session_id"]
            for name, (client, h) in kinds.items()
        }
        latencies: dict[str, list[float]] = {name: [] for name in kinds}
        errors = dict.fromkeys(kinds, 0)
        order = list(kinds)
        shuffler = random.Random(7)
        started = time.perf_counter()
        for index in range(warmup + rounds):
            shuffler.shuffle(order)
            for name in order:
                client, headers = kinds[name]
                body = {"message": "hello", "session_id": sessions[name]}
                before = time.perf_counter()
                response = await client.post(ORCHESTRATE, json=body, headers=headers)
                if index >= warmup:
                    if response.status_code == 200:
                        latencies[name].append(time.perf_counter() - before)
                    else:
                        errors[name] += 1
        elapsed = time.perf_counter() - started
    return {name: figures(latencies[name], errors[name], elapsed) for name in kinds}


def print_table(title: str, results: dict[str, Figures]) -> None:
    base = results["open"]
    print(f"\n{title}\n")
    print("| turn, one at a time | p50 | p99 | p50 vs open | turns | errors |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        delta = result.p50_ms - base.p50_ms
        print(
            f"| {name} | {result.p50_ms:.2f} ms | {result.p99_ms:.2f} ms | "
            f"{delta:+.2f} ms | {result.requests} | {result.errors} |"
        )


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
        (Path(tmp) / "inprocess").mkdir()
        inside = asyncio.run(
            in_process(upstream, Path(tmp) / "inprocess", args.rounds, args.warmup)
        )
        with (
            gateway(upstream, service_core, Path(tmp) / "open") as open_mode,
            gateway(
                upstream, service_core, Path(tmp) / "keyed", extra={"ADMIN_API_KEY": ADMIN}
            ) as keyed,
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
    print_table("In process (ASGI, one event loop):", inside)
    print_table("As processes (python main.py, loopback HTTP):", results)
    runs = [*inside.values(), *results.values()]
    return 0 if all(not r.errors for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
