"""Machine instructions per turn, counted by callgrind: a figure that does not move with the
machine's load or speed, for comparing two builds by a change of one or two per cent.

Wall-clock figures on a shared two-core machine move by ±10 % between runs of one build, so a
small change on the hot path cannot be told from the noise by ``bench.probe``. Here the real
application (``src.bootstrap.build_app``, production settings, a fresh SQLite file or a
throw-away PostgreSQL database) serves turns in this process, through its ASGI interface,
with the fake upstream in a process of its own; valgrind's callgrind counts the instructions
of the measured turns only (its counters are zeroed before them and dumped after), the
database writer thread's included. Neither HTTP nor uvicorn is counted: what is compared is
the gateway's own work.

    .venv/bin/python -m bench.instructions --turns 160          # under callgrind: M instr/turn
    .venv/bin/python -m bench.instructions --connections 1      # one client: the steadiest count
    .venv/bin/python -m bench.instructions --turns 160 --cpu    # no valgrind: CPU us/turn,
                                                                # and the collector's share
    .venv/bin/python -m bench.instructions --provider-only      # the provider call alone
    .venv/bin/python -m bench.instructions --cpu --stored 1000000   # turns on full tables

``--provider-only`` counts the provider call as a turn makes it (``bench.floor``), without
the gateway around it: what of a turn's count is the official SDK's and the adapter's.
``--stored N`` first stores N messages and N call records, as a deployment that has served
for a while has them (CPU only: about a minute a million, hours under valgrind).

Compare two builds by two runs started together (the machine is then the same for both):
with one client two runs of one build differ by 0.2 %; with sixteen (the default, as the
saturation stages) the group commits batch by timing, and they differ by about 1 %.

Two checkouts compared side by side: ``--repository PATH`` imports the application from PATH.
A run takes about a minute and a half under valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.processes import HOST, ROOT, Upstream, fake_upstream, service_environment
from bench.throwaway import throwaway_database_if

CONNECTIONS = 16  # concurrent clients, by default
HISTORY = 10_000  # messages in each session that ``--stored`` fills
MESSAGE = "Explain AI simply, in one sentence."
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _call(app: Any, path: str, body: bytes, method: str = "POST") -> tuple[int, bytes]:
    """One request through the application's ASGI interface."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", HOST.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": (HOST, 1),
        "server": (HOST, 80),
        "state": {},
    }
    delivered = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _callgrind(*command: str) -> None:
    """Asks callgrind (``callgrind_control``) to act on this process, and keeps executing
    until it has: valgrind takes the request only while the process runs code."""
    control = subprocess.Popen(
        ["callgrind_control", *command, str(os.getpid())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while control.poll() is None:
        sum(range(100))


class CollectorClock:
    """The time the cyclic garbage collector takes while this is one of ``gc.callbacks``.

    A collection is memory-bound pointer chasing: its instructions tell little of its time,
    so ``--cpu`` reports it beside the CPU, as a share that the machine's speed does not move.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.passes = 0
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:  # a pass under way when the clock was put in
            self.seconds += time.perf_counter() - self._started
            self.passes += 1


Round = Callable[[int], Awaitable[None]]


async def _measured(
    round_of: Round, turns: int, connections: int, under_callgrind: bool, collector: CollectorClock
) -> float:
    """A warm-up round, then ``turns`` over ``connections`` concurrent clients, counted;
    returns their CPU seconds."""
    await round_of(10)  # warm: the SDK imported, the pools filled, every path taken once
    if under_callgrind:
        _callgrind("--zero")
    started = time.process_time()
    gc.callbacks.append(collector)
    try:
        await round_of(turns // connections)
    finally:
        gc.callbacks.remove(collector)
    spent = time.process_time() - started
    if under_callgrind:
        _callgrind("--dump", "measured")
    return spent


async def _new_session(app: Any) -> str:
    status, answer = await _call(app, "/api/sessions", b"{}")
    if status != 201:
        raise RuntimeError(f"POST /api/sessions answered {status}: {answer[:200]!r}")
    session: str = json.loads(answer)["session_id"]
    return session


async def _store(app: Any, database_url: str, rows: int) -> None:
    """About ``rows`` messages (whole sessions of ``HISTORY``, summarized as a long
    conversation is; one session of ``rows`` when fewer) and ``rows`` call records, stored
    through the gateway's unit of work before the turns: the tables of a deployment that has
    served for a while. What was stored is read back through the API, and printed."""
    from bench.metrics_scale import seed as seed_calls  # imported here: from --repository
    from bench.seed import seed_history
    from bench.stages import LIVE_WINDOW

    per_session = min(rows, HISTORY)
    sessions = [await _new_session(app) for _ in range(max(1, rows // HISTORY))]
    await seed_history(database_url, sessions, per_session, LIVE_WINDOW)
    await seed_calls(database_url, rows)
    messages = sum([(await _read(app, f"/api/sessions/{s}"))["message_count"] for s in sessions])
    providers = (await _read(app, "/api/metrics"))["providers"].values()
    calls = sum(provider["requests"] for provider in providers)
    if messages != per_session * len(sessions) or calls != rows:
        raise RuntimeError(f"stored {messages} messages and {calls} call records, not {rows}")
    print(f"stored {messages:,} messages in {len(sessions)} session(s), {calls:,} call records")


async def _read(app: Any, path: str) -> Any:
    status, answer = await _call(app, path, b"", "GET")
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {answer[:200]!r}")
    return json.loads(answer)


async def _serve(
    app: Any,
    turns: int,
    connections: int,
    under_callgrind: bool,
    collector: CollectorClock,
    stored: tuple[str, int] | None = None,
) -> float:
    """Sessions, then the measured turns over ``connections`` concurrent clients; ``stored``
    (the database's URL, a number of rows) fills the tables first."""
    async with app.router.lifespan_context(app):
        if stored is not None:
            await _store(app, *stored)
        bodies = []
        for _ in range(connections * 2):
            session = await _new_session(app)
            bodies.append(json.dumps({"message": MESSAGE, "session_id": session}).encode())

        async def client(index: int, count: int) -> None:
            for turn in range(count):
                status, answer = await _call(app, "/api/orchestrate", bodies[2 * index + turn % 2])
                if status != 200:
                    raise RuntimeError(f"a turn answered {status}: {answer[:200]!r}")

        async def round_of(count: int) -> None:
            await asyncio.gather(*(client(i, count) for i in range(connections)))

        return await _measured(round_of, turns, connections, under_callgrind, collector)


async def _call_provider(
    upstream: Upstream,
    calls: int,
    connections: int,
    under_callgrind: bool,
    collector: CollectorClock,
) -> float:
    """The provider call alone, as a turn makes it (``bench.floor``), measured as turns are."""
    from bench.floor import provider_call

    call, close = provider_call(upstream.base_url)

    async def client(count: int) -> None:
        for _ in range(count):
            await call()

    async def round_of(count: int) -> None:
        await asyncio.gather(*(client(count) for _ in range(connections)))

    try:
        return await _measured(round_of, calls, connections, under_callgrind, collector)
    finally:
        await close()


def _app(upstream: Upstream, workdir: Path, database_url: str | None) -> Any:
    environment = service_environment(upstream, 1, workdir, database_url)  # never bound
    os.environ.update({k: v for k, v in environment.items() if k not in ("PATH", "HOME")})
    from src.bootstrap import build_app  # imported here: from --repository's checkout
    from src.infrastructure.settings import Settings

    return build_app(Settings(_env_file=None), dict(os.environ))


def measured_turns(turns: int, connections: int) -> int:
    """The turns measured: ``turns`` rounded down to whole rounds of ``connections``."""
    return turns // connections * connections


def drive(
    turns: int,
    connections: int,
    postgres: str | None,
    under_callgrind: bool,
    provider_only: bool = False,
    stored: int = 0,
) -> tuple[float, CollectorClock]:
    """The measured run, in this process: CPU microseconds per turn (per provider call with
    ``provider_only``), and the collector's time during the measured turns."""
    collector = CollectorClock()
    with ExitStack() as stack:
        upstream = stack.enter_context(fake_upstream(None))
        measured = measured_turns(turns, connections)
        if provider_only:
            run = _call_provider(upstream, turns, connections, under_callgrind, collector)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="instr-")))
            database_url = stack.enter_context(throwaway_database_if(postgres))
            app = _app(upstream, workdir, database_url)
            filled = (os.environ["DATABASE_URL"], stored) if stored else None
            run = _serve(app, turns, connections, under_callgrind, collector, filled)
        spent = asyncio.run(run)
        return spent / measured * 1e6, collector


def count(
    turns: int,
    connections: int,
    postgres: str | None,
    repository: Path,
    provider_only: bool = False,
) -> float:
    """This script's ``drive`` under callgrind: million instructions per turn."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        raise SystemExit("counting instructions needs valgrind (its callgrind tool)")
    with tempfile.TemporaryDirectory(prefix="callgrind-") as out:
        argv = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.%p"]
        argv += [sys.executable, "-m", "bench.instructions", "--driver", "--turns", str(turns)]
        argv += ["--connections", str(connections)]
        argv += ["--repository", str(repository)]
        if postgres:
            argv += ["--postgres", postgres]
        if provider_only:
            argv.append("--provider-only")
        # valgrind names its control pipe after HOST, which the settings set: set it first.
        environment = {**os.environ, "HOST": HOST, "PYTHONPATH": str(repository)}
        done = subprocess.run(argv, cwd=ROOT, env=environment, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the driver failed:\n{done.stderr[-3000:]}")
        dumps = sorted(Path(out).glob("callgrind.*.1"))
        if not dumps:
            raise SystemExit("callgrind wrote no dump of the measured turns")
        summary = next(
            line for line in dumps[0].read_text().splitlines() if line.startswith("summary:")
        )
    measured = measured_turns(turns, connections)
    return int(summary.split()[1]) / measured / 1e6


def _require_measured(repository: Path) -> None:
    """Fails unless the application measured was imported from ``repository``: an import of
    ``src`` by a ``bench`` module, before the path is set, would measure this checkout."""
    origin = Path(str(sys.modules["src"].__file__)).resolve()
    if not origin.is_relative_to(repository):
        raise SystemExit(f"measured the application of {origin.parent.parent}, not {repository}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=160)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--postgres", help="libpq URL of a server for a throw-away database")
    parser.add_argument("--repository", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--cpu", action="store_true", help="CPU us per turn, without valgrind")
    parser.add_argument(
        "--provider-only",
        action="store_true",
        help="the provider call alone, as a turn makes it, instead of the turn",
    )
    parser.add_argument(
        "--stored",
        type=int,
        default=0,
        help="with --cpu: about N messages and N call records stored before the turns",
    )
    parser.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= args.turns:
        parser.error("--connections must be at least 1 and at most --turns")
    if args.stored and not args.cpu:
        parser.error("--stored needs --cpu: storing the rows under valgrind would take hours")
    repository = args.repository.resolve()
    what = "provider call" if args.provider_only else "turn"
    if args.driver or args.cpu:
        sys.path.insert(0, str(repository))
        cpu_us, collector = drive(
            args.turns,
            args.connections,
            args.postgres,
            under_callgrind=args.driver,
            provider_only=args.provider_only,
            stored=args.stored,
        )
        _require_measured(repository)
        if args.cpu:
            collected_us = collector.seconds * 1e6 / measured_turns(args.turns, args.connections)
            share = collected_us / cpu_us
            print(
                f"{repository}: the collector {collected_us:,.0f} us a {what}"
                f" ({share:.1%} of the CPU, {collector.passes} passes)"
            )
            print(f"{repository}: {cpu_us:,.0f} us CPU per {what} over {args.turns} {what}s")
        return 0
    instructions = count(
        args.turns, args.connections, args.postgres, repository, args.provider_only
    )
    print(f"{repository}: {instructions:.3f} M instructions per {what} over {args.turns} {what}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
