"""LiteLLM's proxy side by side with the gateway: same fake upstream, load generator and core.

LiteLLM is never installed into this project's environment. Give the ``litellm`` executable
of a virtual environment of its own (``--litellm PATH``; by default ``litellm`` on PATH);
without one the comparison is skipped and the document says so. Installing it::

    python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]'

The proxy runs as its documentation starts it (one uvicorn worker, a config file naming one
OpenAI-compatible model at the fake upstream, a master key, no database), pinned to the
gateway's core while the gateway idles. It answers ``/v1/chat/completions`` with the body the
gateway sends upstream for a turn, so both make the same upstream call; the gateway also
reads and stores the turn, which LiteLLM, without a database, does not.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.processes import HOST, Upstream, cpu_seconds, free_port, pinned, stop, wait_ready
from bench.stages import CHAT, DIRECT_BODY, Bench, Row, checked, cpu_per_turn, failed, ms

# LiteLLM refuses to start without a master key of some length; it never leaves loopback.
MASTER_KEY = "sk-bench-" + "0" * 32
MODEL = "gpt-5.4-mini"


@dataclass(frozen=True, slots=True)
class Proxy:
    process: subprocess.Popen[bytes]
    port: int
    command: list[str]


def find_litellm(given: str | None) -> str | None:
    """The LiteLLM executable to compare with: ``given``, else ``litellm`` on PATH."""
    return shutil.which(given or "litellm")


@contextlib.contextmanager
def litellm_proxy(
    executable: str, upstream: Upstream, core: int | None, workdir: Path
) -> Iterator[Proxy]:
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream.base_url}\n"
        "      api_key: bench\n"
    )
    port = free_port()
    arguments = ["--config", str(config), "--host", HOST, "--port", str(port)]
    command = pinned(core, [executable, *arguments, "--num_workers", "1"])
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": MASTER_KEY,
    }
    with (workdir / "litellm.log").open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(process, port, "/health/liveliness", time.perf_counter(), "LiteLLM proxy")
        yield Proxy(process, port, command)
    finally:
        stop(process)


def side_by_side(bench: Bench, proxy: Proxy, connections: int) -> None:
    """The gateway's stored turns against LiteLLM's chat completions, run after run."""
    ours = bench.load(connections)
    bench.driver.commands.append(f"# LiteLLM proxy\n{' '.join(proxy.command)}")
    bodies = [[DIRECT_BODY]] * connections
    authorization = f"Bearer {MASTER_KEY}"
    bench.driver.run(proxy.port, CHAT, bodies, bench.plan.warmup_seconds, authorization)
    before = cpu_seconds(proxy.process.pid)
    theirs = bench.driver.run(proxy.port, CHAT, bodies, bench.plan.seconds, authorization)
    theirs = checked(theirs, f"LiteLLM proxy, {connections} connection(s)")
    cpu = cpu_seconds(proxy.process.pid) - before
    ratio = ours.throughput / theirs.throughput
    bench.rows.append(
        Row(
            f"turns/s against the LiteLLM proxy, {connections} connections",
            f"{ratio:.1f} times",
            f"gateway {ours.throughput:,.0f}/s, p50 {ms(ours.p50_ms)}, {cpu_per_turn(ours)}; "
            f"LiteLLM {theirs.throughput:,.0f}/s, p50 {ms(theirs.p50_ms)}, "
            f"CPU {cpu * 1000 / theirs.requests:.2f} ms/request{failed(ours, theirs)}",
            "≥ 8 times",
            ratio >= 8 and not (ours.errors or theirs.errors),
        )
    )
