"""The real thing: `python main.py` as a process, over a socket, against a fake upstream.

Holds a conversation past the summarization threshold, restarts the process and checks that
history and metrics survived; then sends SIGTERM during a slow turn and checks the turn
completed and was stored before the process exited 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import openai_wire
from tests.fakes.upstream import FakeUpstream, Received, Reply

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_MARK = "You maintain the running summary"


def responder(received: Received) -> Reply:
    messages = received.json.get("messages", []) if isinstance(received.json, dict) else []
    if messages and str(messages[0].get("content", "")).startswith(SUMMARY_MARK):
        return openai_wire.chat_reply("the user asked numbered questions")
    return openai_wire.echo(received)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    def __init__(self, database: Path, upstream: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "OPENAI_API_KEY": "sk-test-process",
            "OPENAI_BASE_URL": f"{upstream}/v1",
            "SHUTDOWN_GRACE_S": "10",
            "LOG_LEVEL": "warning",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "main.py"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.output())
            try:
                if httpx.get(f"{self.url}/api/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the service did not become ready")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def output(self) -> str:
        assert self.proc is not None
        return self.proc.stdout.read().decode() if self.proc.stdout else ""

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=30, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(responder) as fake:
        yield fake


def test_conversation_past_summarization_survives_a_restart(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    service = Service(tmp_path / "orchestrator.db", upstream.url)
    service.start()
    try:
        sid = service.post("/api/sessions", json={"system_prompt": "be brief"}).json()["session_id"]
        turns = [
            service.post(
                "/api/orchestrate", json={"message": f"question {i}", "session_id": sid}
            ).json()
            for i in range(1, 12)
        ]
        assert [t["message_count"] for t in turns] == list(range(2, 24, 2))
        assert turns[-1]["metadata"]["was_summarized"] is True
        sent = [(m["role"], m["content"]) for m in upstream.last.json["messages"]]
        assert sent[0] == ("system", "be brief")
        assert sent[1] == (
            "system",
            "Summary of the earlier conversation:\nthe user asked numbered questions",
        )
        assert [c for _, c in sent[2:]] == [
            "question 8",
            "echo: question 8",
            "question 9",
            "echo: question 9",
            "question 10",
            "echo: question 10",
            "question 11",
        ]
        metrics_before = service.get(f"/api/sessions/{sid}/metrics").json()
    finally:
        assert service.stop() == 0

    service.start()
    try:
        history = service.get(f"/api/sessions/{sid}/history?limit=100").json()
        assert history["total"] == 22 and len(history["messages"]) == 22
        assert history["summary"] == "the user asked numbered questions"
        assert history["messages"][20]["content"] == "question 11"
        metrics = service.get(f"/api/sessions/{sid}/metrics").json()
        assert metrics == metrics_before
        assert metrics["total_tokens"] == sum(
            t["metadata"]["tokens_used"] + t["metadata"]["summary_tokens"] for t in turns
        )
        assert metrics["summary_count"] == 1
    finally:
        assert service.stop() == 0


def test_sigterm_during_a_slow_turn_finishes_and_stores_it(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    service = Service(tmp_path / "orchestrator.db", upstream.url)
    service.start()
    assert service.proc is not None
    sid = service.post("/api/sessions", json={}).json()["session_id"]
    upstream.enqueue(Reply(body=openai_wire.completion("a slow but complete answer"), hang_s=2.0))
    outcome: dict[str, httpx.Response] = {}

    def slow_turn() -> None:
        outcome["response"] = service.post(
            "/api/orchestrate", json={"message": "take your time", "session_id": sid}
        )

    worker = threading.Thread(target=slow_turn)
    worker.start()
    deadline = time.monotonic() + 5
    while len(upstream.received) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    service.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert service.get("/api/health/ready").status_code == 503
    refused = service.post("/api/orchestrate", json={"message": "too late", "session_id": sid})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "service_unavailable"
    worker.join(timeout=20)
    assert outcome["response"].status_code == 200
    assert outcome["response"].json()["response"] == "a slow but complete answer"
    assert service.proc.wait(timeout=20) == 0

    service.start()
    try:
        history = service.get(f"/api/sessions/{sid}/history").json()
        assert [m["content"] for m in history["messages"]] == [
            "take your time",
            "a slow but complete answer",
        ]
    finally:
        assert service.stop() == 0


def test_a_stream_still_running_at_grace_expiry_is_settled_and_told(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    """Past SHUTDOWN_GRACE_S the stream is cut off like a client that left: its partial reply
    is stored marked interrupted, its call record kept, and it ends with an ``error`` event."""
    service = Service(tmp_path / "orchestrator.db", upstream.url)
    service.env["SHUTDOWN_GRACE_S"] = "1"
    service.start()
    assert service.proc is not None
    sid = service.post("/api/sessions", json={}).json()["session_id"]
    pieces = ["first words ", *["and more " for _ in range(40)]]
    upstream.enqueue(openai_wire.stream_reply(pieces, chunk_delay_s=0.25))
    lines: list[str] = []

    def stream_turn() -> None:
        body = {"message": "talk slowly", "session_id": sid, "stream": True}
        with httpx.stream(
            "POST", f"{service.url}/api/orchestrate", json=body, timeout=30
        ) as response:
            lines.extend(response.iter_lines())

    worker = threading.Thread(target=stream_turn)
    worker.start()
    deadline = time.monotonic() + 5
    while not any("first words" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    service.proc.send_signal(signal.SIGTERM)
    worker.join(timeout=20)
    assert service.proc.wait(timeout=20) == 0
    events = [line for line in lines if line.startswith("event: ")]
    assert events[0] == "event: session" and events[-1] == "event: error"
    assert any("service_unavailable" in line for line in lines[-3:])

    service.start()
    try:
        history = service.get(f"/api/sessions/{sid}/history").json()["messages"]
        assert [m["role"] for m in history] == ["user", "assistant"]
        assert history[1]["content"].startswith("first words") and history[1]["interrupted"]
        assert len(history[1]["content"]) < len("".join(pieces))
        metrics = service.get(f"/api/sessions/{sid}/metrics").json()
        assert metrics["total_tokens"] > 0
    finally:
        assert service.stop() == 0
