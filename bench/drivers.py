"""Load drivers: wrk (preferred: C, exact percentiles at 1 us) or the Python generator.

Both are closed loops over ``connections`` keep-alive connections for a bounded time, on
loopback only, pinned to the load core. Bodies come as one list per connection; wrk cannot
tell its connections apart from Lua, so it rotates through all of them instead (with two
sessions per connection a session is almost never asked for twice at once).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, zip_longest
from pathlib import Path
from typing import Protocol

from bench.loadgen import Figures, drive
from bench.processes import HOST, pinned

LUA_SCRIPT = Path(__file__).with_name("post.lua")
WRK_TIMEOUT_S = 10


class Driver(Protocol):
    name: str
    commands: list[str]

    def run(
        self,
        port: int,
        path: str,
        bodies: Sequence[Sequence[bytes]],
        seconds: int,
        authorization: str | None = None,
    ) -> Figures:
        """``len(bodies)`` connections for ``seconds``; each connection's bodies round robin."""
        ...


@dataclass(slots=True)
class WrkDriver:
    core: int | None
    name: str = "wrk"
    commands: list[str] = field(default_factory=list)

    def run(
        self,
        port: int,
        path: str,
        bodies: Sequence[Sequence[bytes]],
        seconds: int,
        authorization: str | None = None,
    ) -> Figures:
        rotation = [b for b in chain.from_iterable(zip_longest(*bodies)) if b is not None]
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as handle:
            handle.write(b"\n".join(rotation) + b"\n")
            handle.flush()
            command = pinned(
                self.core,
                [
                    "wrk",
                    "-t1",
                    f"-c{len(bodies)}",
                    f"-d{max(1, seconds)}s",
                    f"--timeout={WRK_TIMEOUT_S}s",
                    f"-s{LUA_SCRIPT.relative_to(LUA_SCRIPT.parent.parent)}",
                    f"http://{HOST}:{port}{path}",
                ],
            )
            self.commands.append(" ".join(command))
            done = subprocess.run(
                command,
                cwd=LUA_SCRIPT.parent.parent,
                env={
                    **os.environ,
                    "BENCH_BODIES": handle.name,
                    **({"BENCH_AUTHORIZATION": authorization} if authorization else {}),
                },
                capture_output=True,
                text=True,
                timeout=seconds + 60,
                check=True,
            )
        return _wrk_figures(done.stdout)


def _wrk_figures(output: str) -> Figures:
    for line in output.splitlines():
        if line.startswith("BENCH "):
            raw = json.loads(line.removeprefix("BENCH "))
            errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
            return Figures(
                requests=raw["requests"] - raw["status"],
                errors=errors,
                duration_s=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no figures:\n{output}")


@dataclass(slots=True)
class PythonDriver:
    name: str = "python"
    commands: list[str] = field(default_factory=list)

    def run(
        self,
        port: int,
        path: str,
        bodies: Sequence[Sequence[bytes]],
        seconds: int,
        authorization: str | None = None,
    ) -> Figures:
        self.commands.append(
            f"bench.loadgen.drive(http://{HOST}:{port}{path}, "
            f"connections={len(bodies)}, seconds={seconds})"
        )
        return asyncio.run(drive(HOST, port, path, bodies, seconds, authorization))


def choose_driver(preference: str, core: int | None) -> Driver:
    """``auto`` takes wrk when it is installed, else the Python generator."""
    if preference == "wrk" or (preference == "auto" and shutil.which("wrk")):
        if not shutil.which("wrk"):
            raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
        return WrkDriver(core)
    return PythonDriver()
