"""``orchestrator chat``: a conversation in the terminal through a running service.

Each line read from standard input is one turn of a session (a pipe works as well as a
terminal); the reply is printed, then a dim line with the turn's tokens and cost. ``/exit`` or
the end of input ends the conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console

from src.cli.client import DEFAULT_URL, ApiKeyOption, ServiceClient, UrlOption, session_path
from src.cli.output import CliError, console, money, reports_errors

EXIT_COMMAND = "/exit"

# Errors after which no later turn can succeed: the chat stops instead of going on. Any other
# failed turn (provider down, session busy, message too long) is reported and the chat goes on.
_FATAL_CODES = frozenset({None, "session_not_found"})


@reports_errors
def chat(
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    session: Annotated[
        str | None, typer.Option(help="Continue this session (default: a new one).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Provider (default: the service's DEFAULT_PROVIDER).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model (default: the provider's default model).")
    ] = None,
) -> None:
    """Talk through the service, one line per turn; /exit or end of input ends.

    Exits 1 if any turn failed.
    """
    out = console()
    failed = False
    with ServiceClient(url, api_key) as api:
        if provider is not None:
            _require_provider(api, provider)
        if session is None:
            session_id = api.post("/api/sessions", {})["session_id"]
            out.print(f"session {session_id} (new)")
        else:
            session_id = api.get(session_path(session))["session_id"]
            out.print(f"session {session_id}")
        for message in _messages(typer.get_text_stream("stdin"), out):
            try:
                turn = api.post("/api/orchestrate", _request(message, session_id, provider, model))
            except CliError as error:
                if error.code in _FATAL_CODES:
                    raise
                typer.echo(f"error: {error}", err=True)
                failed = True
                continue
            out.print(turn["response"])
            out.print(usage_line(turn), style="dim")
    if failed:
        raise typer.Exit(1)


def _require_provider(api: ServiceClient, name: str) -> None:
    """Fails before a session is created when no turn could reach ``name``."""
    listed = {p["name"]: p for p in api.get("/api/providers")["providers"]}
    if name not in listed:
        raise CliError(f"unknown provider {name!r}; the service knows {', '.join(sorted(listed))}")
    if not listed[name]["is_configured"]:
        raise CliError(f"provider {name!r} is not configured on the service (no API key)")


def usage_line(turn: dict[str, Any]) -> str:
    """``openai/gpt-5.4-mini · 12 in + 5 out = 17 tokens · $0.000011 · 0.42 s``."""
    meta = turn["metadata"]
    parts = [
        f"{turn['agent_used']}/{turn['model_used']}",
        f"{meta['input_tokens']} in + {meta['output_tokens']} out = {meta['tokens_used']} tokens"
        + (" (estimated)" if meta["usage_estimated"] else ""),
        money(meta["cost_estimate"]),
        f"{turn['execution_time']:.2f} s",
    ]
    if meta["was_summarized"]:
        parts.append(
            f"memory summarized: {meta['summary_tokens']} tokens, {money(meta['summary_cost'])}"
        )
    return " · ".join(parts)


def _request(
    message: str, session_id: str, provider: str | None, model: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "session_id": session_id}
    if provider is not None or model is not None:
        body["agent_config"] = {"provider": provider, "model": model}
    return body


def _messages(stdin: TextIO, out: Console) -> Iterator[str]:
    """Non-blank input lines until ``/exit`` or end of input; a prompt only on a terminal."""
    interactive = stdin.isatty()
    while True:
        if interactive:
            try:
                line = out.input("you> ")
            except EOFError:
                return
        else:
            line = stdin.readline()
            if not line:
                return
        text = line.rstrip("\r\n")
        if text.strip() == EXIT_COMMAND:
            return
        if text.strip():
            yield text
