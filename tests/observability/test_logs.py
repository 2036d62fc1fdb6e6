"""Logs an operator can parse: with ``LOG_FORMAT=json`` every line is one JSON object; each
request's access line has its id, method, path, status and duration, and a turn's line its
session, tenant, provider, model, tokens and cost; the request id follows the request into
every line written while serving it; no line holds message content or a key."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from src.infrastructure.logging_setup import (
    annotate_request,
    bind_request,
    configure_logging,
    unbind_request,
)
from tests.integration.conftest import StartService, Upstreams
from tests.integration.test_streaming import stream_turn

SECRET = "the-launch-code-is-4711"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer for the test, put back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    uvicorn_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved_uvicorn = [(list(lg.handlers), lg.propagate) for lg in uvicorn_loggers]
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for logger, (handlers, propagate) in zip(uvicorn_loggers, saved_uvicorn, strict=True):
            logger.handlers[:] = handlers
            logger.propagate = propagate


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_is_json_and_turn_lines_carry_the_turn(
    log_stream: io.StringIO,
    start_service: StartService,
    upstreams: Upstreams,
) -> None:
    service = start_service(upstreams.env(("openai",)), access_log=True, log_level="info")
    whole = service.http.post(
        "/api/orchestrate",
        json={"message": f"whole {SECRET}", "agent_config": {"provider": "openai"}},
    )
    streamed = stream_turn(service, f"streamed {SECRET}", provider="openai")
    with connect(service.url.replace("http", "ws") + "/api/ws") as ws:
        ws.send(json.dumps({"type": "turn", "message": f"ws {SECRET}"}))
        while json.loads(ws.recv(timeout=10))["type"] != "done":
            pass
    assert service.http.get("/api/sessions/sess_missing").status_code == 404
    service.stop()

    text = log_stream.getvalue()
    assert SECRET not in text and "test-key-openai" not in text
    lines = _lines(log_stream)  # every line parses
    access = [line for line in lines if line["logger"] == "orchestrator.access"]
    by_path = {(line["method"], line["path"]): line for line in access}

    request_id = whole.headers["x-request-id"]
    turn = next(line for line in access if line.get("request_id") == request_id)
    assert turn["status"] == 200 and turn["duration_ms"] > 0
    assert turn["session_id"] == whole.json()["session_id"]
    assert (turn["tenant"], turn["provider"]) == ("default", "openai")
    assert turn["model"] == whole.json()["model_used"]
    metadata = whole.json()["metadata"]
    assert (turn["input_tokens"], turn["output_tokens"]) == (
        metadata["input_tokens"],
        metadata["output_tokens"],
    )
    assert turn["cost"] == metadata["cost_estimate"]

    streamed_line = next(
        line for line in access if line.get("session_id") == streamed[-1].data["session_id"]
    )
    assert streamed_line["path"] == "/api/orchestrate" and streamed_line["provider"] == "openai"
    ws_line = by_path[("WS", "/api/ws")]
    assert ws_line["status"] == "ok" and ws_line["output_tokens"] > 0
    assert by_path[("GET", "/api/sessions/sess_missing")]["status"] == 404

    # The upstream call's own line (written by the HTTP client) carries the turn's request id.
    inner = [line for line in lines if line.get("request_id") == request_id and line is not turn]
    assert inner, "no line written while serving the turn carried its request id"


async def test_the_request_id_follows_into_tasks_and_text_lines_read_as_pairs() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("text", "info", stream)
    try:
        token = bind_request("req-42")

        async def deep() -> None:
            annotate_request(session_id="sess_1")
            logging.getLogger("orchestrator.test").info("inside a task")

        await asyncio.create_task(deep())
        try:
            raise ValueError("carries no traceback")
        except ValueError:
            logging.getLogger("orchestrator.test").exception("failed")
        unbind_request(token)
        logging.getLogger("orchestrator.test").info("outside")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    first, failed, outside = stream.getvalue().splitlines()
    assert first.endswith("orchestrator.test inside a task request_id=req-42")
    assert failed.endswith("failed request_id=req-42 error_type=ValueError")
    assert "Traceback" not in stream.getvalue()
    assert outside.endswith("orchestrator.test outside")
