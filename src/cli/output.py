"""How every command fails and prints: one ``error: ...`` line on stderr and exit code 1.

Errors are plain ``typer.echo`` lines, never rich output, so that a long message is not
wrapped at the terminal width and brackets in it are not read as markup. Tables go through a
``Console`` made per command, so that it measures the terminal the command really runs in.
Text a user wrote (messages, ids, summaries) is never read as rich markup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A failure the operator can act on; its message is the whole error line. ``code`` is the
    service's error code when the service answered with one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turns a ``CliError`` raised by ``command`` into one stderr line and exit code 1.

    A ``KeyError`` can only come from reading the service's JSON: the server at ``--url``
    answered 2xx without a field of SPEC §3 (another program, or another version).
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as error:
            message = str(error)
        except KeyError as error:
            message = (
                f"unexpected answer: no field {error.args[0]!r}; "
                "is --url an orchestrator service of this version?"
            )
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1)

    return run


# Rich lays out at 80 columns when the output is not a terminal; a pipe or a file gets rows
# this wide instead, so that `| grep` sees whole ids and names.
_PIPE_WIDTH = 200


def console() -> Console:
    """Markup, emoji codes and highlighting off: message text is shown as it was written."""
    out = Console(markup=False, emoji=False, highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, _PIPE_WIDTH)
    return out


def money(value: float | None) -> str:
    """USD to the hundred-millionth, so one cheap turn does not show as $0.00; ``unknown``
    when the price is not known (never 0)."""
    if value is None:
        return "unknown"
    whole, _, cents = f"{value:.8f}".rstrip("0").partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def moment(text: str | None) -> str:
    """An API timestamp shortened to the minute, in the zone the service wrote it (UTC)."""
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def blank_if_none(value: object) -> str:
    return "" if value is None else str(value)
