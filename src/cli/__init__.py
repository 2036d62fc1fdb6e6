"""The operator command line, ``orchestrator`` (installed as a console script).

``serve``, ``db upgrade`` and ``pricing`` work on this machine without a service; every other
command talks HTTP to a running service at ``--url`` (env ``ORCHESTRATOR_URL``) with the key
of ``--api-key`` (env ``ORCHESTRATOR_API_KEY``). A failure
prints one ``error: ...`` line on stderr and exits 1; usage errors exit 2.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from src.cli.chat import chat
from src.cli.keys import keys_app
from src.cli.local import db_app, pricing, serve
from src.cli.providers import providers
from src.cli.sessions import sessions_app

app = typer.Typer(
    name="orchestrator",
    help="Operate the Orchestrator LLM gateway.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(asked: bool) -> None:
    if asked:
        try:
            typer.echo(f"orchestrator {version('orchestrator')}")
        except PackageNotFoundError:  # a checkout that was not installed
            typer.echo("orchestrator 0.0.0+local")
        raise typer.Exit()


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version, exit."
        ),
    ] = False,
) -> None:
    """Operate the Orchestrator LLM gateway."""


app.command()(serve)
app.add_typer(db_app, name="db")
app.command()(providers)
app.command()(pricing)
app.add_typer(sessions_app, name="sessions")
app.command()(chat)
app.add_typer(keys_app, name="keys")

__all__ = ["app"]
