"""``/dashboard``: the analysts' pages, a small static app shipped inside the package.

Three HTML pages (overview with the sessions table, a session, the playground) and their
scripts, stylesheet and vendored chart library (uPlot, MIT, licence beside it) are files
under ``static/dashboard``; the pages call the JSON API from the browser. Every response
carries a Content-Security-Policy that allows this origin only: no inline script or style,
no other host, no framing. Only the files found there at start-up are served.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from src.api.errors import ApiError

router = APIRouter(tags=["dashboard"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static" / "dashboard"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_ASSETS = {
    path.relative_to(STATIC).as_posix(): path
    for path in STATIC.rglob("*")
    if path.is_file() and not path.name.endswith(".html")
}


def _file(path: Path) -> FileResponse:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        media_type = "text/javascript"
    return FileResponse(path, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/dashboard")
async def overview_page() -> FileResponse:
    return _file(STATIC / "index.html")


@router.get("/dashboard/session")
async def session_page() -> FileResponse:
    return _file(STATIC / "session.html")


@router.get("/dashboard/playground")
async def playground_page() -> FileResponse:
    return _file(STATIC / "playground.html")


@router.get("/dashboard/assets/{name:path}")
async def asset(name: str) -> FileResponse:
    found = _ASSETS.get(name)
    if found is None:
        raise ApiError(404, "not_found", f"no dashboard asset named {name!r}")
    return _file(found)
