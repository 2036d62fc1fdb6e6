"""The dashboard's files over HTTP: each page and asset under a Content-Security-Policy that
allows this origin only, nothing served outside the shipped files, and the playground's
socket closed on a refused credential."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from src.api.routes import ws
from tests.dashboard.conftest import Population

PAGES = ["/dashboard", "/dashboard/session", "/dashboard/playground"]
ASSETS = [
    "/dashboard/assets/common.js",
    "/dashboard/assets/app.css",
    "/dashboard/assets/vendor/uPlot.iife.min.js",
    "/dashboard/assets/vendor/uPlot.LICENSE",
]


@pytest.mark.parametrize("path", PAGES + ASSETS)
def test_every_file_is_served_under_a_self_only_policy(populated: Population, path: str) -> None:
    response = populated.service.http.get(path)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "http" not in policy and "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    if path.endswith(".js"):
        assert response.headers["content-type"].startswith("text/javascript")
    if path in PAGES:
        assert response.headers["content-type"].startswith("text/html")
        assert "<script>" not in response.text and "style=" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/assets/nope.js",
        "/dashboard/assets/../routes/dashboard.py",
        "/dashboard/assets/index.html",
    ],
)
def test_nothing_else_is_served(populated: Population, path: str) -> None:
    response = populated.service.http.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_licence_of_the_vendored_chart_library_ships_with_it(populated: Population) -> None:
    licence = populated.service.http.get("/dashboard/assets/vendor/uPlot.LICENSE").text
    assert "MIT License" in licence and "Leon Sorokin" in licence


def test_a_refused_credential_closes_the_socket_with_4401(
    populated: Population, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(token: str | None) -> str:
        raise ws.Unauthorized

    monkeypatch.setattr(ws, "authenticate_socket", refuse)
    url = populated.service.url.replace("http", "ws") + "/api/ws"
    with connect(url) as socket:
        socket.send('{"type": "auth", "token": "wrong"}')
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with pytest.raises(InvalidStatus) as refused:  # a bearer subprotocol is refused up front
        connect(url, subprotocols=["bearer", "wrong"])  # type: ignore[list-item]
    assert refused.value.response.status_code == 403
