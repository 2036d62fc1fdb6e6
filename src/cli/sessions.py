"""``orchestrator sessions ...``: list, inspect, export and delete the service's sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from src.cli.client import DEFAULT_URL, ApiKeyOption, ServiceClient, UrlOption, session_path
from src.cli.export import ExportFormat, full_history, render
from src.cli.output import CliError, blank_if_none, console, moment, money, reports_errors

sessions_app = typer.Typer(help="Inspect, export and delete sessions.", no_args_is_help=True)

SessionId = Annotated[str, typer.Argument(help="A session id (sess_...).", show_default=False)]

# Message text longer than this is cut in `sessions show`; `sessions export` has it whole.
_PREVIEW_CHARS = 300


@sessions_app.command("list")
@reports_errors
def list_sessions(
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    user_id: Annotated[str | None, typer.Option(help="Only this user's sessions.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="How many newest to skip.")] = 0,
) -> None:
    """List sessions, newest first."""
    with ServiceClient(url, api_key) as api:
        page = api.get("/api/sessions", user_id=user_id, limit=limit, offset=offset)
    table = Table(title="Sessions", caption=f"{len(page['sessions'])} of {page['total']}")
    table.add_column("session", no_wrap=True)
    table.add_column("user", overflow="fold")
    table.add_column("status")
    table.add_column("messages", justify="right")
    table.add_column("created (UTC)", no_wrap=True)
    for session in page["sessions"]:
        table.add_row(
            session["session_id"],
            blank_if_none(session["user_id"]),
            session["status"],
            str(session["message_count"]),
            moment(session["created_at"]),
        )
    console().print(table)


@sessions_app.command("show")
@reports_errors
def show(
    session_id: SessionId,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    last: Annotated[int, typer.Option(min=0, max=500, help="Latest messages shown.")] = 10,
) -> None:
    """Show a session, what it has cost, and its latest messages."""
    with ServiceClient(url, api_key) as api:
        session = api.get(session_path(session_id))
        metrics = api.get(session_path(session_id, "metrics"))
        offset = max(session["message_count"] - last, 0)
        latest = (
            api.get(session_path(session_id, "history"), limit=last, offset=offset)
            if last
            else None
        )
    out = console()
    out.print(_overview(session, metrics))
    if metrics["by_provider"]:
        out.print(_by_provider(metrics["by_provider"]))
    if latest is not None:
        out.print(_messages(latest["messages"], offset))


@sessions_app.command("export")
@reports_errors
def export(
    session_id: SessionId,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (
        ExportFormat.json
    ),
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Export a session's full history (every message, oldest first) as JSON or CSV."""
    with ServiceClient(url, api_key) as api:
        session = api.get(session_path(session_id))
        messages = full_history(api, session_id)
    text = render(fmt, session, messages)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write {output}: {error.strerror}") from None
    typer.echo(f"wrote {len(messages)} messages to {output}", err=True)


@sessions_app.command("delete")
@reports_errors
def delete(
    session_id: SessionId,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a session with its messages and summaries (its costs stay in global metrics)."""
    with ServiceClient(url, api_key) as api:
        if not yes:
            count = api.get(session_path(session_id))["message_count"]
            typer.confirm(f"Delete session {session_id} and its {count} messages?", abort=True)
        api.delete(session_path(session_id))
    typer.echo(f"deleted session {session_id}")


def _overview(session: dict[str, Any], metrics: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    unknown = metrics["calls_with_unknown_cost"]
    unpriced = f" (+ {unknown} call{'s' * (unknown != 1)} at an unknown price)" if unknown else ""
    rows = {
        "session": session["session_id"],
        "user": blank_if_none(session["user_id"]),
        "status": session["status"],
        "created (UTC)": moment(session["created_at"]),
        "updated (UTC)": moment(session["updated_at"]),
        "messages": str(session["message_count"]),
        "tokens": f"{metrics['total_tokens']} "
        f"({metrics['input_tokens']} in, {metrics['output_tokens']} out)",
        "cost": money(metrics["total_cost"]) + unpriced,
        "summaries": f"{metrics['summary_count']} "
        f"({metrics['summary_tokens']} tokens, {money(metrics['summary_cost'])})",
        "avg response": f"{metrics['average_response_time']:.2f} s",
        "system prompt": blank_if_none(session.get("system_prompt")),
        "summary": blank_if_none(session["summary"]),
    }
    for key, value in rows.items():
        grid.add_row(key, value)
    return grid


def _by_provider(by_provider: dict[str, Any]) -> Table:
    table = Table(title="By provider")
    table.add_column("provider")
    for heading in ("turns", "tokens", "cost", "avg response"):
        table.add_column(heading, justify="right")
    for name, row in sorted(by_provider.items()):
        table.add_row(
            name,
            str(row["turns"]),
            str(row["tokens"]),
            money(row["cost"]),
            f"{row['average_response_time']:.2f} s",
        )
    return table


def _messages(messages: list[dict[str, Any]], offset: int) -> Table:
    table = Table(title="Latest messages")
    table.add_column("#", justify="right")
    table.add_column("role", no_wrap=True)
    table.add_column("content", overflow="fold", ratio=1)
    table.add_column("model", no_wrap=True)
    table.add_column("in/out", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    for index, message in enumerate(messages, start=offset + 1):
        content = message["content"]
        if len(content) > _PREVIEW_CHARS:
            content = content[:_PREVIEW_CHARS] + "…"
        assistant = message["role"] == "assistant"
        table.add_row(
            str(index),
            message["role"],
            content,
            blank_if_none(message.get("model")),
            f"{message['input_tokens']}/{message['output_tokens']}" if assistant else "",
            money(message.get("cost")) if assistant else "",
        )
    return table
