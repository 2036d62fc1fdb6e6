"""The commands that work without a running service: ``serve``, ``db upgrade`` and ``pricing``.

``serve`` and ``db upgrade`` import the composition root and persistence only when they run,
so that the HTTP commands do not pay for loading every provider SDK.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from src.cli.output import CliError, blank_if_none, console, reports_errors
from src.infrastructure.llm_providers.registry import PROVIDER_ADAPTERS
from src.infrastructure.pricing.price_book import DatedPriceBook, PriceEntry
from src.infrastructure.settings import Settings

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def load_settings(**overrides: Any) -> Settings:
    """The service's settings (environment and ``.env``), with the options given on the line."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]).upper()
        raise CliError(f"invalid setting {field}: {first['msg']}") from None


@reports_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (PORT).")
    ] = None,
) -> None:
    """Run the service (what `python main.py` does), with optional --host/--port overrides."""
    import main  # the composition root, loaded only to serve

    main.serve(load_settings(host=host, port=port), main.read_environment())


@db_app.command("upgrade")
@reports_errors
def db_upgrade(
    database_url: Annotated[
        str | None,
        typer.Option(help="Database to migrate (default: DATABASE_URL from the settings)."),
    ] = None,
) -> None:
    """Apply every database migration not yet applied (a no-op at head)."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from src.infrastructure.persistence.migrate import upgrade_database

    text = load_settings(database_url=database_url).database_url
    try:
        url: URL = make_url(text)
    except ArgumentError:
        raise CliError("the database URL is not a SQLAlchemy URL") from None
    try:
        applied = asyncio.run(upgrade_database(text))
    except (SQLAlchemyError, OSError, ValueError, TypeError) as error:
        # TypeError: the driver refused a query parameter of the URL (``?bogus=1``).
        # Drivers may quote the connection string; the password never reaches the terminal.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if url.password:
            reason = reason.replace(str(url.password), "***")
        raise CliError(f"database upgrade failed: {reason}") from None
    for revision in applied:
        typer.echo(f"applied {revision}")
    where = url.render_as_string(hide_password=True)
    typer.echo(f"database at {where} is up to date" + ("" if applied else " (nothing to apply)"))


@reports_errors
def pricing(
    provider: Annotated[str | None, typer.Option(help="Only this provider's models.")] = None,
) -> None:
    """Show the prices in force today for the models the service knows (USD per 1M tokens)."""
    known = {entry.SPEC.name: entry.SPEC.models for entry in PROVIDER_ADAPTERS}
    book = DatedPriceBook.load()
    entries = [e for e in book.entries(known) if provider in (None, e.provider)]
    if not entries:
        raise CliError(f"no prices for provider {provider!r}")
    out = console()
    out.print(_price_table(entries))
    # Sources get their own table: a URL in a narrow column of every row would be unreadable.
    sources = Table(title="Sources")
    sources.add_column("provider")
    sources.add_column("source", overflow="fold")
    for entry in {(e.provider, e.source): e for e in entries}.values():
        sources.add_row(entry.provider, entry.source)
    out.print(sources)


def _price_table(entries: list[PriceEntry]) -> Table:
    """A ``cache write`` column appears only when some model bills cache writes apart; a tiered
    rate shows its long-context steps as ``base (>threshold: rate)``."""
    with_writes = any(e.price.cache_write is not None for e in entries)
    table = Table(title="Prices, USD per 1M tokens")
    table.add_column("provider")
    table.add_column("model", no_wrap=True)
    table.add_column("since", no_wrap=True)
    headings = ["input", "cached input", "output"] + (["cache write"] if with_writes else [])
    for heading in headings:
        table.add_column(heading, justify="right")
    for entry in entries:
        price = entry.price
        prices = [price.input, price.cached_input, price.output]
        row = [entry.provider, entry.model, entry.since, *(str(p) for p in prices)]
        if with_writes:
            row.append(blank_if_none(price.cache_write))
        table.add_row(*row)
    return table
