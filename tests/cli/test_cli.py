"""The ``orchestrator`` CLI against a real service: uvicorn in a thread serving ``build_app``
over a temporary SQLite file, with OpenAI played by ``FakeUpstream`` (echo replies)."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from src.bootstrap import build_app
from src.cli import app
from src.infrastructure.settings import Settings
from tests.fakes.openai_wire import echo, error_reply
from tests.fakes.upstream import FakeUpstream

# Output is a pipe here, as with `orchestrator sessions list | grep`: rows must come out whole.
runner = CliRunner(env={"COLUMNS": None, "ORCHESTRATOR_URL": None})

SESSION_ID = re.compile(r"sess_[0-9a-f]{32}")


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(echo) as fake:
        yield fake


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[str]:
    """The service's base URL."""
    folder = tmp_path_factory.mktemp("service")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{folder}/t.db",
        provider_timeout_s=5,
        provider_max_retries=0,
        access_log=False,
        log_level="warning",
        default_provider="openai",
    )
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": upstream.url}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(build_app(settings, env), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "service did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


@pytest.fixture(scope="module")
def chatted(service: str) -> tuple[str, str]:
    """Two turns of ``chat`` from a pipe: (its output, the new session's id)."""
    result = runner.invoke(app, ["chat", "--url", service], input="hello\n\nsecond one\n")
    assert result.exit_code == 0, result.output
    match = SESSION_ID.search(result.stdout)
    assert match, result.stdout
    return result.stdout, match.group()


def _free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _one_error_line(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return str(lines[0])


def test_providers_table_shows_openai_configured_with_its_default_model(service: str) -> None:
    result = runner.invoke(app, ["providers", "--url", service])

    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    openai_cells = [c.strip() for c in rows["openai"].split("│")]
    assert openai_cells[2:5] == ["yes", "yes", "gpt-5.4-mini"]
    anthropic_cells = [c.strip() for c in rows["anthropic"].split("│")]
    assert anthropic_cells[2:4] == ["no", "no"]


def test_pricing_lists_openai_models_with_source_offline() -> None:
    result = runner.invoke(app, ["pricing", "--provider", "openai"])

    assert result.exit_code == 0, result.output
    assert re.search(
        r"│ openai\s+│ gpt-5\.4-mini\s+│ -\s+│\s+0\.75 │\s+0\.075 │\s+4\.5 │", result.stdout
    )
    assert re.search(r"│ gpt-5\.4\s+│ -\s+│ 2\.5 \(>272,000: 5\) │", result.stdout)  # a tier
    assert "genai-prices" in result.stdout
    assert "anthropic" not in result.stdout

    unknown = runner.invoke(app, ["pricing", "--provider", "nope"])
    assert unknown.exit_code == 1
    assert _one_error_line(unknown) == "error: no prices for provider 'nope'"


def test_chat_prints_each_reply_with_tokens_and_cost(chatted: tuple[str, str]) -> None:
    output, _ = chatted

    assert "echo: hello" in output
    assert "echo: second one" in output
    usage_lines = [line for line in output.splitlines() if "tokens" in line]
    assert len(usage_lines) == 2  # the blank input line was not a turn
    # 12 prompt + 5 completion tokens from the fake, priced at gpt-5.4-mini's rates.
    assert all("12 in + 5 out = 17 tokens · $0.0000315" in line for line in usage_lines)


def test_chat_continues_a_session_given_by_id(service: str, chatted: tuple[str, str]) -> None:
    _, session_id = chatted
    other = runner.invoke(app, ["chat", "--url", service], input="/exit\nnot sent\n")
    other_id = SESSION_ID.search(other.stdout)
    assert other.exit_code == 0 and other_id and other_id.group() != session_id

    unknown = runner.invoke(app, ["chat", "--url", service, "--session", "sess_nope"], input="x\n")
    assert unknown.exit_code == 1
    assert _one_error_line(unknown) == (
        "error: session 'sess_nope' does not exist (session_not_found)"
    )


def test_sessions_list_shows_the_chat_session(service: str, chatted: tuple[str, str]) -> None:
    _, session_id = chatted
    result = runner.invoke(app, ["sessions", "list", "--url", service, "--limit", "50"])

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if session_id in line)
    assert [c.strip() for c in row.split("│")][3:5] == ["active", "4"]


def test_sessions_show_has_cost_and_latest_messages(service: str, chatted: tuple[str, str]) -> None:
    _, session_id = chatted
    result = runner.invoke(app, ["sessions", "show", session_id, "--url", service, "--last", "3"])

    assert result.exit_code == 0, result.output
    assert "34 (24 in, 10 out)" in result.stdout
    assert "$0.000063" in result.stdout
    shown = [line for line in result.stdout.splitlines() if "echo:" in line or "│ user" in line]
    assert "second one" in shown[-2] and "echo: second one" in shown[-1]
    assert "│ 1 " not in result.stdout  # only the latest 3 of 4 messages


def test_export_json_holds_the_whole_history(
    service: str, chatted: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, session_id = chatted
    monkeypatch.setattr("src.cli.export._PAGE", 3)  # so the 4 messages come in two pages
    result = runner.invoke(app, ["sessions", "export", session_id, "--url", service])

    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert exported["session"]["session_id"] == session_id
    messages = exported["messages"]
    assert [m["content"] for m in messages] == [
        "hello",
        "echo: hello",
        "second one",
        "echo: second one",
    ]
    assert messages[1]["output_tokens"] == 5


def test_export_csv_to_a_file(service: str, chatted: tuple[str, str], tmp_path: Path) -> None:
    _, session_id = chatted
    target = tmp_path / "history.csv"
    result = runner.invoke(
        app,
        ["sessions", "export", session_id, "--url", service, "--format", "csv", "--output", target],
    )

    assert result.exit_code == 0, result.output
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["index"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["role"] for r in rows] == ["user", "assistant"] * 2
    assert rows[3]["content"] == "echo: second one"
    assert rows[3]["provider"] == "openai" and rows[3]["input_tokens"] == "12"
    assert rows[0]["cost"] == "" and float(rows[1]["cost"]) > 0


def test_export_csv_keeps_commas_quotes_and_newlines(service: str) -> None:
    text = 'a, "quoted"\nsecond line'
    turn = httpx.post(f"{service}/api/orchestrate", json={"message": text}, timeout=10).json()
    result = runner.invoke(
        app, ["sessions", "export", turn["session_id"], "--url", service, "--format", "csv"]
    )

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["content"] for r in rows] == [text, f"echo: {text}"]


def test_delete_then_show_fails_with_one_line(service: str) -> None:
    session_id = httpx.post(f"{service}/api/sessions", json={}, timeout=10).json()["session_id"]

    refused = runner.invoke(app, ["sessions", "delete", session_id, "--url", service], input="n\n")
    assert refused.exit_code == 1
    assert runner.invoke(app, ["sessions", "show", session_id, "--url", service]).exit_code == 0

    deleted = runner.invoke(app, ["sessions", "delete", session_id, "--url", service, "--yes"])
    assert deleted.exit_code == 0, deleted.output

    shown = runner.invoke(app, ["sessions", "show", session_id, "--url", service])
    assert shown.exit_code == 1
    assert _one_error_line(shown) == (
        f"error: session '{session_id}' does not exist (session_not_found)"
    )


def test_unreachable_service_is_one_line_and_exit_1() -> None:
    url = _free_port_url()
    result = runner.invoke(app, ["sessions", "list"], env={"ORCHESTRATOR_URL": url})

    assert result.exit_code == 1
    assert _one_error_line(result) == f"error: cannot reach the service at {url}"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "not a url"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    result = runner.invoke(app, ["providers", "--url", url])

    assert result.exit_code == 1
    assert _one_error_line(result) == "error: --url must be an http:// or https:// URL"


def test_a_server_that_is_not_the_service_is_one_line(upstream: FakeUpstream) -> None:
    result = runner.invoke(app, ["providers", "--url", upstream.url])

    assert result.exit_code == 1
    assert "is --url an orchestrator service" in _one_error_line(result)


def test_chat_with_a_model_of_unknown_price_shows_unknown_cost(service: str) -> None:
    result = runner.invoke(
        app, ["chat", "--url", service, "--provider", "openai", "--model", "custom-1"], input="hi\n"
    )

    assert result.exit_code == 0, result.output
    assert "openai/custom-1 · 12 in + 5 out = 17 tokens · unknown ·" in result.stdout


def test_usage_error_exits_2() -> None:
    result = runner.invoke(app, ["sessions", "export", "sess_x", "--format", "xml"])

    assert result.exit_code == 2


def test_db_upgrade_creates_the_tables(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    url = f"sqlite+aiosqlite:///{database}"

    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])

    assert result.exit_code == 0, result.output
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master")}
    assert {"sessions", "messages", "summaries", "provider_calls"} <= tables
    applied = [line for line in result.stdout.splitlines() if line.startswith("applied ")]
    assert applied[0].startswith("applied 0001 The initial tables")
    again = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert again.exit_code == 0
    assert "applied" not in again.stdout and "(nothing to apply)" in again.stdout


def test_version_and_short_help() -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0
    assert re.fullmatch(r"orchestrator \d+\.\d+\.\d+\S*\n", version.stdout)
    short = runner.invoke(app, ["-h"])
    assert short.exit_code == 0 and "Usage: orchestrator" in short.stdout
    assert runner.invoke(app, ["chat", "-h"]).exit_code == 0


@pytest.mark.parametrize("provider", ["nope", "anthropic"], ids=["unknown", "unconfigured"])
def test_chat_with_a_provider_no_turn_can_reach_creates_no_session(
    service: str, provider: str
) -> None:
    before = httpx.get(f"{service}/api/sessions").json()["total"]

    result = runner.invoke(app, ["chat", "--url", service, "--provider", provider], input="hi\n")

    assert result.exit_code == 1
    assert provider in _one_error_line(result)
    assert httpx.get(f"{service}/api/sessions").json()["total"] == before


@pytest.mark.parametrize("query", ["", "?no_such_option=1"])
def test_db_upgrade_failure_is_one_line_without_the_password(query: str) -> None:
    port = _free_port_url().rsplit(":", 1)[1]
    url = f"postgresql+asyncpg://postgres:hunter2secret@127.0.0.1:{port}/test{query}"

    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])

    assert result.exit_code == 1
    assert _one_error_line(result).startswith("error: database upgrade failed: ")
    assert "hunter2secret" not in result.output


def test_invalid_setting_is_reported_not_traced() -> None:
    result = runner.invoke(app, ["serve"], env={"PORT": "eighty"})

    assert result.exit_code == 1
    assert _one_error_line(result).startswith("error: invalid setting PORT: ")


def test_chat_reports_a_failed_turn_goes_on_and_exits_1(
    service: str, upstream: FakeUpstream
) -> None:
    upstream.enqueue(error_reply(500, "upstream fell over"))

    result = runner.invoke(app, ["chat", "--url", service], input="first\nsecond\n")

    assert result.exit_code == 1
    assert _one_error_line(result).endswith("(provider_error)")
    assert "echo: first" not in result.stdout
    assert "echo: second" in result.stdout
