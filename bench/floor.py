"""The floor under a turn's CPU: what uvicorn and the official SDK cost without the gateway.

The throughput targets are CPU per turn seen from the other side (1,000 turns/s on one core
is 1 ms a turn). This measures how much of that millisecond goes to what the product keeps
whatever the gateway does: the server, and the provider call through the official SDK. Each
layer is a process of its own, served by uvicorn as ``main.py`` serves the gateway, pinned to
the gateway's core and loaded by the same driver, against the same fake upstream:

- ``server``: a bare ASGI app that reads the turn's body, decodes its JSON and answers a
  small JSON object: HTTP in and out, nothing else;
- ``provider``: that, plus one provider call through the gateway's own provider stack (the
  registry's lazy, resilient OpenAI adapter on the SDK's aiohttp backend), with the messages
  a turn sends upstream (a summary and a six-message window, ``stages.DIRECT_BODY``);
- ``gateway``: the gateway's turn (``main.py``, SQLite), as ``bench.probe`` measures it.

    .venv/bin/python -m bench.floor --connections 16 --runs 3
    .venv/bin/python -m bench.floor --smoke     # a second a layer, to see that it runs

The gateway's own work is the third figure less the second; every seventh turn also makes a
second provider call (the summary, with the default memory rules), which the second figure
does not count, so the gateway's own figure includes it. ``bench/run.py`` has the floor as a
row of its table (``floor_stage``), at its first saturation stage's connections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.drivers import Driver, choose_driver
from bench.loadgen import Figures
from bench.processes import (
    HOST,
    ROOT,
    Upstream,
    cores,
    cpu_seconds,
    fake_upstream,
    free_port,
    gateway,
    pinned,
    stop,
    wait_ready,
)
from bench.stages import (
    DIRECT_BODY,
    FULL,
    MESSAGE,
    ORCHESTRATE,
    SMOKE,
    Bench,
    Row,
    checked,
    warm_up,
)

LAYERS = ("server", "provider", "gateway")
ANSWER = b'{"response":"ok"}'
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Answer = Callable[[bytes], Awaitable[bytes]]


def _bare_app(answer: Answer) -> Callable[[Message, Receive, Send], Awaitable[None]]:
    """A pure ASGI app: the whole body read, ``answer`` of it sent back as JSON."""

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        content = await answer(body) if scope["method"] == "POST" else ANSWER
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(content)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    return app


def provider_call(
    base_url: str,
) -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
    """One provider call as a turn makes it (the gateway's provider stack from its registry,
    OpenAI against ``base_url``, the messages a turn sends upstream; the answer's text), and
    what closes its client."""
    from src.domain.llm import ChatMessage, ChatRequest
    from src.infrastructure.llm_providers.registry import build_provider_registry

    registry = build_provider_registry(
        {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": base_url}, max_retries=0
    )
    provider = registry.get("openai")
    upstream = json.loads(DIRECT_BODY)
    messages = tuple(ChatMessage(m["role"], m["content"]) for m in upstream["messages"])
    request = ChatRequest(upstream["model"], messages)

    async def call() -> str:
        return (await provider.complete(request)).text

    return call, registry.aclose


def _answer(layer: str, base_url: str) -> Answer:
    # The server is stopped by a signal: its client is never closed.
    call = provider_call(base_url)[0] if layer == "provider" else None

    async def answer(body: bytes) -> bytes:
        json.loads(body)
        if call is None:
            return ANSWER
        return json.dumps({"response": await call()}).encode()

    return answer


def serve(layer: str, port: int, base_url: str) -> None:
    """One layer's server, as ``main.py`` configures uvicorn (its defaults, no access log)."""
    import uvicorn

    app = _bare_app(_answer(layer, base_url))
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="off")


@contextlib.contextmanager
def layer_server(layer: str, upstream: Upstream, core: int | None) -> Iterator[tuple[int, int]]:
    """The pid and port of one layer's server, ready (``serve`` in a child process)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.floor", "--serve", layer, "--port", str(port)]
    command = pinned(core, [*argv, "--upstream", upstream.base_url])
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        wait_ready(process, port, "/", started, f"{layer} server")
        yield process.pid, port
    finally:
        stop(process)


def _measured(
    driver: Driver, layer: str, server: tuple[int, int], connections: int, seconds: int
) -> Figures:
    """One load run on a layer's server (pid, port), with that process's CPU."""
    pid, port = server
    bodies = [[json.dumps({"message": MESSAGE, "session_id": str(n)}).encode()]
              for n in range(connections)]  # fmt: skip
    before = cpu_seconds(pid)
    figures = driver.run(port, ORCHESTRATE, bodies, seconds)
    return checked(replace(figures, cpu_s=cpu_seconds(pid) - before), f"the {layer} server")


def layer_cpu(
    driver: Driver,
    layer: str,
    upstream: Upstream,
    core: int | None,
    connections: int,
    seconds: tuple[int, int],
    runs: int = 1,
) -> float:
    """The median CPU a request (ms) of a layer's server, ``seconds`` (a warm-up, then each
    measured run)."""
    with layer_server(layer, upstream, core) as server:
        _measured(driver, layer, server, connections, seconds[0])
        measured = [_measured(driver, layer, server, connections, seconds[1])
                    for _ in range(runs)]  # fmt: skip
    return _median_cpu(layer, measured)


def _median_cpu(layer: str, runs: list[Figures]) -> float:
    cpu = statistics.median(f.cpu_ms_per_request for f in runs)
    rate = statistics.median(f.throughput for f in runs)
    errors = sum(f.errors for f in runs)
    print(f"{layer:>8}: CPU {cpu:.3f} ms/request, {rate:,.0f} requests/s, errors {errors}")
    return cpu


def split(cpu: dict[str, float]) -> str:
    """The turn's CPU (``gateway``) told apart, from the three layers' figures."""
    provider = cpu["provider"] - cpu["server"]
    own = cpu["gateway"] - cpu["provider"]
    return (
        f"server {cpu['server']:.3f} ms + provider call {provider:.3f} ms"
        f" + the gateway's own {own:.3f} ms (its summary calls included)"
        f" = {cpu['gateway']:.3f} ms a turn"
    )


def floor_stage(bench: Bench, core: int | None) -> None:
    """The floor as a row of ``bench/run.py``'s table, at its first saturation's connections,
    beside the gateway it has warmed up."""
    connections = bench.plan.connections[0]
    seconds = (bench.plan.warmup_seconds, bench.plan.seconds)
    cpu = {}
    for layer in LAYERS[:2]:
        bench.driver.commands.append(f"# python -m bench.floor --serve {layer}, then its load")
        cpu[layer] = layer_cpu(bench.driver, layer, bench.upstream, core, connections, seconds)
    bench.driver.commands.append("# the gateway again, beside the floor")
    cpu["gateway"] = _median_cpu("gateway", [bench.load(connections)])
    left = 1.0 - cpu["provider"]
    bench.rows.append(
        Row(
            f"CPU a turn without the gateway (uvicorn and the provider call), "
            f"{connections} connections",
            f"{cpu['provider']:.2f} ms",
            f"{split(cpu)}; 1 ms a turn would leave the gateway's own work, its summary calls"
            f" included, {left:.2f} ms (bench/floor.py)",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--smoke", action="store_true", help="2 connections, one 1 s run")
    parser.add_argument("--serve", choices=LAYERS[:2], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.upstream)
        return 0
    plan = FULL
    if args.smoke:
        plan, args.connections, args.seconds, args.runs = SMOKE, 2, 1, 1
    service_core, load_core = cores()
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    driver = choose_driver(args.loadgen, load_core)
    seconds = (plan.warmup_seconds, args.seconds)
    with fake_upstream(load_core) as upstream:
        cpu = {
            layer: layer_cpu(
                driver, layer, upstream, service_core, args.connections, seconds, args.runs
            )
            for layer in LAYERS[:2]
        }
        with (
            tempfile.TemporaryDirectory(prefix="orchestrator-floor-") as tmp,
            gateway(upstream, service_core, Path(tmp)) as service,
        ):
            bench = Bench(upstream, service, driver, plan)
            warm_up(bench)
            runs = [bench.load(args.connections, args.seconds) for _ in range(args.runs)]
            cpu["gateway"] = _median_cpu("gateway", runs)
    print(split(cpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
