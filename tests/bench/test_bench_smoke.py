"""The benchmark's smoke run: every stage runs for about a second and yields its figures.

It asserts nothing about the targets (a shared CI machine cannot), only that the suite still
drives the real gateway end to end, so the full run keeps working as the service changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = (
    "ready after process start",
    "RSS idle",
    "overhead p50, 1 connection",
    "overhead p99, 1 connection",
    "turns/s, 2 connections, upstream 0 ms",
    "turns/s, 4 connections, upstream 0 ms",
    "CPU a turn without the gateway (uvicorn and the provider call), 2 connections",
    "turns/s, 4 connections, upstream 50 ms",
    "turn p50, 200 vs 10 stored messages",
    "RSS under load",
)


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """A bench script from the repository's root, as its documentation runs it."""
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_smoke_run_produces_a_figure_for_every_stage(tmp_path: Path) -> None:
    document = tmp_path / "benchmarks.md"
    done = _run("bench/run.py", "--smoke", "--output", document)

    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split(" | ")[0].strip("| "): line for line in done.stdout.splitlines()}
    for stage in STAGES:
        row = next((line for name, line in rows.items() if name.startswith(stage)), None)
        assert row is not None, f"no row for {stage!r} in:\n{done.stdout}"
        value = row.split(" | ")[1]
        assert any(ch.isdigit() for ch in value), row
    written = document.read_text()
    assert "bench:begin" in written and "turns/s" in written and "python main.py" in written


def test_the_in_process_driver_serves_real_turns_and_reports_their_cpu() -> None:
    # The driver that bench/instructions.py runs under callgrind, here without valgrind.
    done = _run("-m", "bench.instructions", "--turns", "32", "--cpu")

    assert done.returncode == 0, done.stderr[-3000:]
    figure = done.stdout.split(": ")[-1]
    assert figure.endswith("us CPU per turn over 32 turns\n"), done.stdout
    assert float(figure.split()[0].replace(",", "")) > 0
    assert "of the CPU" in done.stdout  # the collector's share of it


def test_the_provider_call_alone_is_measured_as_turns_are() -> None:
    # What of a turn's count is the provider call's: the same driver, without the gateway.
    done = _run("-m", "bench.instructions", "--turns", "32", "--cpu", "--provider-only")

    assert done.returncode == 0, done.stderr[-3000:]
    figure = done.stdout.split(": ")[-1]
    assert figure.endswith("us CPU per provider call over 32 provider calls\n"), done.stdout
    assert float(figure.split()[0].replace(",", "")) > 0
    assert "Unclosed" not in done.stderr  # the SDK's client is closed after the calls


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
def test_the_floor_measures_each_layer_and_splits_the_turn() -> None:
    done = _run("-m", "bench.floor", "--smoke", "--loadgen", "python")

    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    cpu = {}
    for layer in ("server", "provider", "gateway"):
        line = next(line for line in lines if line.strip().startswith(f"{layer}:"))
        assert line.endswith("errors 0"), line
        cpu[layer] = float(line.split("CPU ")[1].split()[0])
    # Each layer does what the one before it does, and more.
    assert 0 < cpu["server"] < cpu["provider"] < cpu["gateway"], cpu
    assert lines[-1].endswith(f"= {cpu['gateway']:.3f} ms a turn"), lines[-1]


def test_turns_are_measured_on_tables_already_filled() -> None:
    done = _run("-m", "bench.instructions", "--turns", "32", "--cpu", "--stored", "300")

    assert done.returncode == 0, done.stderr[-3000:]
    # Read back through the API before the turns: what a deployment's tables would hold.
    assert "stored 300 messages in 1 session(s), 300 call records" in done.stdout, done.stdout
    assert done.stdout.endswith("us CPU per turn over 32 turns\n"), done.stdout


def test_the_metrics_scale_script_seeds_and_times_each_size() -> None:
    done = _run("bench/metrics_scale.py", "--records", "300")

    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| 10", "| 300"], done.stdout
