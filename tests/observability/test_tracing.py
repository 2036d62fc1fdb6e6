"""Traces an operator can plug in: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, a real OTLP/HTTP
receiver in the test gets a span per turn with the GenAI conventions, a child per provider
call (the summary fold's included) and per unit of database work, and never the content of a
message. Without the setting, OpenTelemetry is not even imported."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from websockets.sync.client import connect

from tests.integration.conftest import StartService, Upstreams
from tests.integration.test_streaming import stream_turn

SECRET = "the-launch-code-is-4711"
ROOT = Path(__file__).resolve().parents[2]


class OtlpReceiver:
    """An OTLP/HTTP (protobuf) trace endpoint on a free port, keeping every span it gets."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                receiver.paths.append(self.path)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        receiver.spans.extend(scope.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def named(self, prefix: str) -> list[Any]:
        return [s for s in self.spans if s.name.startswith(prefix)]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    found = OtlpReceiver()
    found.thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def attributes(span: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in span.attributes:
        value = item.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            values[item.key] = [v.string_value for v in value.array_value.values]
        else:
            values[item.key] = getattr(value, kind)
    return values


def test_turns_are_traced_with_genai_attributes_and_no_content(
    receiver: OtlpReceiver,
    start_service: StartService,
    upstreams: Upstreams,
) -> None:
    service = start_service(
        upstreams.env(("openai", "anthropic")),
        otel_exporter_otlp_endpoint=receiver.url,
        session_summarization_threshold=2,
        session_keep_recent=0,
    )
    first = service.turn(f"first {SECRET}", provider="openai")
    session_id = first["session_id"]
    service.turn(f"second {SECRET}", session_id, provider="openai")  # folds into a summary
    streamed = stream_turn(service, f"streamed {SECRET}", provider="anthropic")
    with connect(service.url.replace("http", "ws") + "/api/ws") as ws:
        ws.send(
            json.dumps(
                {"type": "turn", "message": f"ws {SECRET}", "agent_config": {"provider": "openai"}}
            )
        )
        while json.loads(ws.recv(timeout=10))["type"] != "done":
            pass
    service.stop()  # shutting down exports what is buffered

    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    for span in receiver.spans:
        assert SECRET not in str(attributes(span)) and SECRET not in span.name
    turns = receiver.named("turn")
    assert len(turns) == 4
    by_session = {attributes(t)["session.id"]: t for t in turns}
    assert set(by_session) >= {session_id, streamed[-1].data["session_id"]}

    turn = [t for t in turns if attributes(t)["session.id"] == session_id][-1]
    turn_attributes = attributes(turn)
    assert turn_attributes["tenant"] == "default"
    assert turn_attributes["gen_ai.system"] == "openai"
    assert turn_attributes["gen_ai.response.model"] == first["model_used"]
    assert turn_attributes["gen_ai.usage.input_tokens"] == first["metadata"]["input_tokens"]
    assert turn_attributes["gen_ai.usage.output_tokens"] == first["metadata"]["output_tokens"]

    children = [s for s in receiver.spans if s.parent_span_id == turn.span_id]
    names = sorted(s.name.split(" ")[0] for s in children)
    assert "chat" in names and "summarize" in names and "db.unit_of_work" in names
    chat = next(s for s in children if s.name.startswith("chat "))
    chat_attributes = attributes(chat)
    assert chat_attributes["gen_ai.request.model"] == first["model_used"]
    assert chat_attributes["gen_ai.response.finish_reasons"]
    assert chat_attributes["gen_ai.usage.output_tokens"] == first["metadata"]["output_tokens"]
    assert all(s.trace_id == turn.trace_id for s in children)

    streamed_turn = by_session[streamed[-1].data["session_id"]]
    streamed_children = [s for s in receiver.spans if s.parent_span_id == streamed_turn.span_id]
    assert any(s.name.startswith("chat ") for s in streamed_children)
    assert attributes(streamed_turn)["gen_ai.system"] == "anthropic"
    http_spans = [s for s in receiver.spans if s.span_id == turn.parent_span_id]
    assert http_spans, "the turn span sits under the HTTP server span"


def test_tracing_off_loads_no_sdk_exporter_or_instrumentation(tmp_path: Path) -> None:
    """FastAPI itself imports the OpenTelemetry API when it is installed (a no-op without a
    tracer provider); the SDK, the exporter and the instrumentation stay out."""
    script = (
        "import sys\n"
        "from src.bootstrap import build_app\n"
        "from src.infrastructure.settings import Settings\n"
        f"build_app(Settings(_env_file=None, database_url='sqlite+aiosqlite:///{tmp_path}/x.db'), {{}})\n"
        "heavy = ('opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.instrumentation',"
        " 'src.infrastructure.telemetry_otel')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
