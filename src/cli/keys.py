"""``orchestrator keys ...``: issue, list and revoke API keys (needs the admin key).

``keys create`` prints the secret once, on its own line, so ``$(orchestrator keys create ...)``
style scripting can capture it; the service never shows it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import typer
from rich.table import Table

from src.cli.client import DEFAULT_URL, ApiKeyOption, ServiceClient, UrlOption
from src.cli.output import blank_if_none, console, moment, money, reports_errors

keys_app = typer.Typer(help="Issue, list and revoke API keys (admin key).", no_args_is_help=True)


@keys_app.command("create")
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="What the key is for.", show_default=False)],
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant whose sessions the key sees (default: its own).")
    ] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Turns per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, help="Tokens per minute.")] = None,
    budget: Annotated[float | None, typer.Option(min=0.000001, help="Budget in USD.")] = None,
    expires: Annotated[
        datetime | None,
        typer.Option(help="Expiry, UTC (e.g. 2027-01-31T00:00:00).", formats=["%Y-%m-%dT%H:%M:%S"]),
    ] = None,
) -> None:
    """Issue a key and print its secret, which is shown this once only."""
    body = {
        "name": name,
        "tenant": tenant,
        "rate_limit_rpm": rpm,
        "token_limit_tpm": tpm,
        "budget_usd": budget,
        "expires_at": None if expires is None else expires.isoformat() + "Z",
    }
    with ServiceClient(url, api_key) as api:
        created = api.post("/api/admin/keys", body)
    out = console()
    out.print(f"key {created['id']} for tenant {created['tenant']} (shown once, store it now):")
    typer.echo(created["key"])


@keys_app.command("list")
@reports_errors
def list_keys(url: UrlOption = DEFAULT_URL, api_key: ApiKeyOption = None) -> None:
    """List every key with its tenant, limits, spend and state (never a secret)."""
    with ServiceClient(url, api_key) as api:
        listing = api.get("/api/admin/keys")["keys"]
    table = Table(title="API keys")
    for heading in ("id", "name", "tenant", "prefix", "rpm", "tpm", "budget", "spent", "state"):
        table.add_column(heading, no_wrap=heading in ("id", "prefix"))
    for key in listing:
        state = "active" if key["active"] else ("revoked" if key["revoked_at"] else "expired")
        table.add_row(
            key["id"],
            key["name"],
            key["tenant"],
            key["prefix"] + "…",
            blank_if_none(key["rate_limit_rpm"]),
            blank_if_none(key["token_limit_tpm"]),
            money(key["budget_usd"]) if key["budget_usd"] is not None else "",
            money(key["spent_usd"]),
            state if key["active"] else f"{state} {moment(key['revoked_at'] or key['expires_at'])}",
        )
    console().print(table)


@keys_app.command("revoke")
@reports_errors
def revoke(
    key_id: Annotated[str, typer.Argument(help="A key id (key_...).", show_default=False)],
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Revoke a key: every replica refuses it from the next request on."""
    with ServiceClient(url, api_key) as api:
        api.delete(f"/api/admin/keys/{quote(key_id, safe='')}")
    console().print(f"revoked {key_id}")
