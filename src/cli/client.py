"""A small synchronous client of the service's HTTP API (SPEC §3) for the operator commands.

Every failure becomes a ``CliError`` worded for the operator: the service's error envelope as
``message (code)``, a refused connection as "cannot reach the service at URL". Credentials in
the URL are never shown, and neither is the API key (sent as ``Authorization: Bearer``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from src.cli.output import CliError

DEFAULT_URL = "http://127.0.0.1:8000"

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="ORCHESTRATOR_URL",
        help="Base URL of the running service.",
        show_default=True,
    ),
]

ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="ORCHESTRATOR_API_KEY",
        help="API key (or the admin key) sent as a Bearer token; not needed in open mode.",
        show_default=False,
    ),
]

# A turn may wait for a busy session and for provider retries, so reads are allowed to be slow;
# an unreachable service is reported at once.
_TIMEOUT = httpx.Timeout(300.0, connect=5.0)


def session_path(session_id: str, *rest: str) -> str:
    """``/api/sessions/{id}/...`` with the id escaped, so no id can address another route."""
    return "/".join(("/api/sessions", quote(session_id, safe=""), *rest))


class ServiceClient:
    """``with ServiceClient(url) as api: api.get("/api/providers")`` -> parsed JSON."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        try:
            base = httpx.URL(url.rstrip("/"))
        except httpx.InvalidURL:
            raise CliError(f"{url!r} is not a URL") from None
        if base.scheme not in ("http", "https") or not base.host:
            raise CliError("--url must be an http:// or https:// URL")
        self.shown_url = str(base.copy_with(username=None, password=None))
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base, timeout=_TIMEOUT, headers=headers)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", path, params=query)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, json=body)

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise CliError(f"the service at {self.shown_url} did not answer in time") from None
        except httpx.TransportError:
            raise CliError(f"cannot reach the service at {self.shown_url}") from None
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError:
            raise CliError(self._unexpected(response)) from None
        if response.is_error:
            raise _service_error(data) or CliError(self._unexpected(response))
        return data

    def _unexpected(self, response: httpx.Response) -> str:
        return (
            f"unexpected answer from {self.shown_url}{response.request.url.path} "
            f"(HTTP {response.status_code}); is --url the orchestrator?"
        )


def _service_error(data: Any) -> CliError | None:
    """``message (code)`` from the SPEC's error envelope, or ``None`` if it is not one."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or "message" not in error:
        return None
    message = " ".join(str(error["message"]).split())
    code = error.get("code")
    return CliError(f"{message} ({code})", code=str(code)) if code else CliError(message)
