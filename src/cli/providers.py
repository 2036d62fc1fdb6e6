"""``orchestrator providers``: which providers the running service can call right now."""

from __future__ import annotations

from rich.table import Table

from src.cli.client import DEFAULT_URL, ApiKeyOption, ServiceClient, UrlOption
from src.cli.output import console, reports_errors, yes_no


@reports_errors
def providers(url: UrlOption = DEFAULT_URL, api_key: ApiKeyOption = None) -> None:
    """List every provider: configured (has a key), healthy (circuit closed), default model."""
    with ServiceClient(url, api_key) as api:
        listing = api.get("/api/providers")["providers"]
    table = Table(title="Providers")
    for heading in ("name", "configured", "healthy", "default model", "models"):
        table.add_column(heading, no_wrap=heading != "models")
    for provider in listing:
        table.add_row(
            provider["name"],
            yes_no(provider["is_configured"]),
            yes_no(provider["is_healthy"]),
            provider["default_model"],
            str(len(provider["models"])),
        )
    console().print(table)
