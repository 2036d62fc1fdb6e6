"""The processes a benchmark runs: the fake upstream and the gateway, each pinned to a core.

The gateway is started exactly as in production (``python main.py``, one process, one
worker) with production settings, from a fresh temporary directory so that no developer's
``.env`` leaks in and the SQLite file starts empty. Every address is on loopback.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_EXCEPTION_LINE = re.compile(r"^((?:\w+\.)*\w*(?:Error|Exception): .*)$", re.MULTILINE)


def pinned(core: int | None, argv: list[str]) -> list[str]:
    """``argv`` run under ``taskset -c core`` (unpinned when there is no core to spare)."""
    return argv if core is None else ["taskset", "-c", str(core), *argv]


def cores() -> tuple[int | None, int | None]:
    """(gateway core, load core), or (None, None) with fewer than two cores."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 or shutil.which("taskset") is None:
        return None, None
    return allowed[0], allowed[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def request(
    port: int, method: str, path: str, body: Any = None, timeout_s: float = 10.0
) -> tuple[int, Any]:
    """One HTTP call on loopback; the JSON answer decoded (None when empty)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` (VmRSS of /proc/<pid>/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads) and of its child processes."""
    task = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(c) for c in task.read_text().split()] if task.exists() else []
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children)


class PeakRss:
    """Samples a process's RSS every 100 ms in a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, rss_mb(self._pid))
            if self._stop.wait(0.1):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the gateway drains, then exits), SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True, slots=True)
class Upstream:
    port: int
    command: list[str]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def set_latency(self, milliseconds: int) -> None:
        status, _ = request(self.port, "POST", "/__bench/latency", milliseconds)
        if status != 204:
            raise RuntimeError(f"the fake upstream refused the latency change ({status})")


@contextlib.contextmanager
def fake_upstream(core: int | None) -> Iterator[Upstream]:
    command = pinned(core, [sys.executable, "-m", "bench.fake_upstream", "--port", "0"])
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError("the fake upstream did not start")
        yield Upstream(int(line[1]), command)
    finally:
        stop(process)


def service_environment(
    upstream: Upstream, port: int, workdir: Path, database_url: str | None = None
) -> dict[str, str]:
    """Production settings, with only the variables a deployment would set; a new SQLite
    file in ``workdir`` unless ``database_url`` names another database."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "HOST": HOST,
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "ACCESS_LOG": "false",
        "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": upstream.base_url,
        "PROVIDER_MAX_RETRIES": "0",
    }


@dataclass(slots=True)
class Service:
    process: subprocess.Popen[bytes]
    port: int
    database_url: str
    command: list[str]
    environment: Mapping[str, str]
    log: Path
    ready_after_s: float = field(default=0.0)

    @property
    def pid(self) -> int:
        return self.process.pid

    def errors_logged(self) -> list[str]:
        """The distinct exceptions the gateway logged, e.g. why requests failed."""
        found = _EXCEPTION_LINE.findall(self.log.read_text(errors="replace"))
        return sorted(set(found))


def wait_ready(
    process: subprocess.Popen[bytes], port: int, path: str, started: float, what: str
) -> float:
    """Seconds from ``started`` to the first 200 of ``GET path``."""
    deadline = started + READY_TIMEOUT_S
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {what} exited with {process.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(port, "GET", path, timeout_s=1.0)[0] == 200:
                return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError(f"the {what} was not ready within {READY_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def gateway(
    upstream: Upstream,
    core: int | None,
    workdir: Path,
    database_url: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> Iterator[Service]:
    """The gateway on a fresh database (in ``workdir`` by default), ready; stopped on leaving.
    ``extra`` adds settings (e.g. ``ADMIN_API_KEY``) to the production ones."""
    port = free_port()
    environment = {**service_environment(upstream, port, workdir, database_url), **(extra or {})}
    command = pinned(core, [sys.executable, str(ROOT / "main.py")])
    log = workdir / "gateway.log"
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    service = Service(process, port, environment["DATABASE_URL"], command, environment, log)
    try:
        service.ready_after_s = wait_ready(process, port, "/api/health/ready", started, "gateway")
        yield service
    finally:
        stop(process)
