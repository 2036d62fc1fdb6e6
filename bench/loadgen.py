"""A closed-loop HTTP/1.1 load generator in Python, for where wrk is absent (and for the
interleaved session-size stage, which needs each request's own latency).

Each connection keeps one socket open and sends its own bodies round robin (one session per
connection), one request at a time, until the deadline. Latencies are kept whole, so the
percentiles are exact (nearest rank), not read off a histogram.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Figures:
    """One load run: successful requests, failures, wall time and latency percentiles."""

    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    cpu_s: float = 0.0  # user + system CPU of the process under load, when measured

    @property
    def throughput(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1000 / self.requests if self.requests else 0.0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of values already sorted; 0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def figures(latencies_s: list[float], errors: int, duration_s: float) -> Figures:
    ordered = sorted(latencies_s)
    return Figures(
        requests=len(ordered),
        errors=errors,
        duration_s=duration_s,
        p50_ms=percentile(ordered, 50) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
    )


class Connection:
    """One keep-alive connection that sends a POST and reads the whole answer."""

    def __init__(self, host: str, port: int, path: str, authorization: str | None = None) -> None:
        self._host, self._port = host, port
        extra = f"Authorization: {authorization}\r\n" if authorization else ""
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        """The answer's status; the body is read and dropped."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self._reader.readexactly(length)
        return int(lines[0].split(b" ", 2)[1])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def drive(
    host: str,
    port: int,
    path: str,
    bodies: Sequence[Sequence[bytes]],
    duration_s: float,
    authorization: str | None = None,
) -> Figures:
    """``len(bodies)`` connections, each sending its own bodies round robin until the end."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker(own: Sequence[bytes]) -> None:
        nonlocal errors
        connection = Connection(host, port, path, authorization)
        index = 0
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = await asyncio.wait_for(
                        connection.post(own[index % len(own)]), TIMEOUT_S
                    )
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    connection.close()
                    continue
                index += 1
                if 200 <= status < 300:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(own) for own in bodies))
    return figures(latencies, errors, time.perf_counter() - started)


async def alternate(
    host: str, port: int, path: str, groups: Mapping[str, Sequence[bytes]], rounds: int
) -> dict[str, Figures]:
    """One connection, one request at a time, taking turns between the groups.

    Interleaving makes every group see the same machine state (caches, database size, clock
    speed) so that their figures differ only by what the groups differ in.
    """
    latencies: dict[str, list[float]] = {name: [] for name in groups}
    errors = dict.fromkeys(groups, 0)
    connection = Connection(host, port, path)
    started = time.perf_counter()
    try:
        for index in range(rounds):
            for name, bodies in groups.items():
                before = time.perf_counter()
                status = await asyncio.wait_for(
                    connection.post(bodies[index % len(bodies)]), TIMEOUT_S
                )
                if 200 <= status < 300:
                    latencies[name].append(time.perf_counter() - before)
                else:
                    errors[name] += 1
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    return {name: figures(latencies[name], errors[name], elapsed) for name in groups}
