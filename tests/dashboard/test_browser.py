"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright), on a
served application holding sessions made through the API.

Each page is checked for what an analyst relies on (figures equal to ``/api/metrics``, a
table that searches and sorts, a transcript with its summary marker, a playground whose
reply streams in over the WebSocket), and for what the Content-Security-Policy promises: no
request leaves the service's origin and nothing is reported on the console. Screenshots of
each page are written to ``docs/img`` for the README.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.conftest import Population

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"

if not CHROMIUM.exists() and shutil.which("chromium") is None:
    pytest.skip(
        "Debian's chromium package is not installed (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")


class Watched:
    """A page with every request and console message it produced."""

    def __init__(self, page: object, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.requests: list[str] = []
        self.problems: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))  # type: ignore[attr-defined]
        page.on(  # type: ignore[attr-defined]
            "console",
            lambda message: (
                self.problems.append(f"{message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))  # type: ignore[attr-defined]

    def assert_clean(self) -> None:
        foreign = [
            url
            for url in self.requests
            if not url.startswith(
                (self.origin, self.origin.replace("http", "ws"), "data:", "blob:")
            )
        ]
        assert foreign == [], f"requests left the origin: {foreign}"
        assert self.problems == [], f"console reported: {self.problems}"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=CHROMIUM_ARGS,
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def watched(browser: object, populated: Population) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        yield Watched(page, populated.service.url)
    finally:
        context.close()


def _figure(page: object, label: str) -> float:
    """The raw value of the figure whose visible label is ``label``."""
    term = page.get_by_text(label, exact=True)  # type: ignore[attr-defined]
    value = term.locator("xpath=following-sibling::dd[1]")
    return float(value.get_attribute("data-value"))


def test_overview_figures_equal_the_global_metrics(populated: Population, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{populated.service.url}/dashboard")  # type: ignore[attr-defined]
    page.wait_for_selector("#fig-turns[data-value]")  # type: ignore[attr-defined]
    page.wait_for_selector("#chart-turns canvas")  # type: ignore[attr-defined]
    providers = populated.service.get("/api/metrics")["providers"]

    assert _figure(page, "Provider calls") == sum(p["requests"] for p in providers.values())
    assert _figure(page, "Tokens") == sum(p["tokens"] for p in providers.values())
    assert math.isclose(
        _figure(page, "Cost in dollars"), sum(p["cost"] for p in providers.values()), rel_tol=1e-9
    )
    overview = populated.service.get("/api/metrics/overview")
    assert _figure(page, "Turns") == overview["turns"] >= populated.turns
    assert _figure(page, "Error rate") == pytest.approx(overview["error_rate"])
    assert overview["errors"] == populated.failed
    assert 0 < _figure(page, "Latency p50") <= _figure(page, "Latency p95")
    canvas = page.locator("#chart-cost canvas")  # type: ignore[attr-defined]
    assert canvas.get_attribute("role") == "img"
    assert "Cost in dollars over time" in canvas.get_attribute("aria-label")
    page.wait_for_selector("#sessions[data-loaded] tbody tr")  # type: ignore[attr-defined]
    page.screenshot(path=str(SCREENSHOTS / "dashboard-overview.png"), full_page=True)  # type: ignore[attr-defined]
    watched.assert_clean()


def _rows(page: object) -> list[list[str]]:
    cells = page.locator("#sessions tbody tr").evaluate_all(  # type: ignore[attr-defined]
        "rows => rows.map(r => [...r.cells].map(c => c.dataset.value ?? c.textContent))"
    )
    return list(cells)


def test_sessions_table_searches_and_sorts(populated: Population, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{populated.service.url}/dashboard")  # type: ignore[attr-defined]
    page.wait_for_selector("#sessions[data-loaded] tbody tr")  # type: ignore[attr-defined]
    assert [row[1] for row in _rows(page)] == ["carol", "bob", "alice"]

    page.get_by_label("Search by session id or user id").fill("alice")  # type: ignore[attr-defined]
    page.wait_for_selector("#sessions[data-loaded$=':alice::0']")  # type: ignore[attr-defined]
    rows = _rows(page)
    assert [row[0] for row in rows] == [populated.sessions["alice"]]

    page.get_by_label("Search by session id or user id").fill("")  # type: ignore[attr-defined]
    page.wait_for_selector("#sessions[data-loaded='last_activity:desc:::0']")  # type: ignore[attr-defined]
    cost_header = page.get_by_role("columnheader", name="Cost in dollars")  # type: ignore[attr-defined]
    cost_header.get_by_role("button").click()
    page.wait_for_selector("#sessions[data-loaded^='cost:desc']")  # type: ignore[attr-defined]
    assert cost_header.get_attribute("aria-sort") == "descending"
    costs = [float(row[5]) for row in _rows(page)]
    assert costs == sorted(costs, reverse=True)

    cost_header.get_by_role("button").click()
    page.wait_for_selector("#sessions[data-loaded^='cost:asc']")  # type: ignore[attr-defined]
    assert cost_header.get_attribute("aria-sort") == "ascending"
    costs = [float(row[5]) for row in _rows(page)]
    assert costs == sorted(costs)
    tokens_header = page.get_by_role("columnheader", name="Tokens")  # type: ignore[attr-defined]
    assert tokens_header.get_attribute("aria-sort") == "none"

    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Download CSV").click()  # type: ignore[attr-defined]
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("session_id,user_id")
    assert len(text.splitlines()) == 1 + len(populated.sessions)
    watched.assert_clean()


def test_session_page_shows_the_transcript_with_summary_markers(
    populated: Population, watched: Watched
) -> None:
    page = watched.page
    alice = populated.sessions["alice"]
    page.goto(f"{populated.service.url}/dashboard/session?id={alice}")  # type: ignore[attr-defined]
    page.wait_for_selector("#transcript[data-loaded]")  # type: ignore[attr-defined]

    transcript = page.locator("#transcript")  # type: ignore[attr-defined]
    assert transcript.locator("li.user").count() == 4
    assert transcript.locator("li.assistant").count() == 4
    assert "Question 1 from alice" in transcript.inner_text()
    markers = transcript.get_by_text("Summary", exact=True)
    assert markers.count() >= 1 and markers.first.is_visible()
    fold_seq = int(
        transcript.locator("li.fold").first.evaluate("n => n.previousElementSibling.dataset.seq")
    )
    trail = populated.service.get(f"/api/metrics/sessions/{alice}/trail")
    assert fold_seq == trail["summaries"][0]["to_seq"]  # the marker sits where the fold ended

    metrics = populated.service.get(f"/api/sessions/{alice}/metrics")
    assert _figure(page, "Tokens") == metrics["total_tokens"]
    assert page.locator("#by-provider tbody tr th").all_inner_texts() == ["openai"]  # type: ignore[attr-defined]
    assert page.locator("#chart-turns canvas").get_attribute("role") == "img"  # type: ignore[attr-defined]
    page.screenshot(path=str(SCREENSHOTS / "dashboard-session.png"), full_page=True)  # type: ignore[attr-defined]
    watched.assert_clean()


def test_playground_streams_a_reply_over_the_websocket(
    populated: Population, watched: Watched
) -> None:
    page = watched.page
    page.goto(f"{populated.service.url}/dashboard/playground")  # type: ignore[attr-defined]
    page.wait_for_selector("#model option", state="attached")  # type: ignore[attr-defined]
    page.get_by_label("Provider").select_option("anthropic")  # type: ignore[attr-defined]
    models = page.get_by_label("Model").locator("option").all_inner_texts()  # type: ignore[attr-defined]
    assert models, "the model list follows the provider"

    page.get_by_label("Message").fill("Hello from the playground")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    page.wait_for_selector("#conversation li.assistant[data-done]")  # type: ignore[attr-defined]
    reply = page.locator("#conversation li.assistant .text").inner_text()  # type: ignore[attr-defined]
    assert reply == "[anthropic] answers: Hello from the playground"
    session = page.locator("#session").inner_text()  # type: ignore[attr-defined]
    history = populated.service.get(f"/api/sessions/{session}/history")
    assert [m["content"] for m in history["messages"]] == ["Hello from the playground", reply]

    page.get_by_label("Message").fill("And a second question")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    page.locator("#conversation li.assistant[data-done]").nth(1).wait_for()  # type: ignore[attr-defined]
    assert populated.service.get(f"/api/sessions/{session}")["message_count"] == 4
    page.screenshot(path=str(SCREENSHOTS / "dashboard-playground.png"), full_page=True)  # type: ignore[attr-defined]
    watched.assert_clean()


def test_the_overview_fits_a_phone(browser: object, populated: Population) -> None:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    try:
        page = context.new_page()
        watched = Watched(page, populated.service.url)
        page.goto(f"{populated.service.url}/dashboard")
        page.wait_for_selector("#sessions[data-loaded] tbody tr")
        page.wait_for_selector("#chart-turns canvas")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, "the page scrolls sideways on a phone"
        page.screenshot(path=str(SCREENSHOTS / "dashboard-phone.png"), full_page=False)
        watched.assert_clean()
    finally:
        context.close()


def test_a_refused_call_asks_for_a_key_then_sends_it_as_bearer(
    populated: Population, watched: Watched
) -> None:
    """In open mode nothing refuses; here the browser answers 401 in the service's place
    until a key is sent, as a service with keys would."""
    page = watched.page
    sent: list[str | None] = []

    def guard(route: object) -> None:
        authorization = route.request.headers.get("authorization")  # type: ignore[attr-defined]
        sent.append(authorization)
        if authorization != "Bearer key-123":
            route.fulfill(  # type: ignore[attr-defined]
                status=401,
                content_type="application/json",
                body='{"error": {"code": "unauthorized", "message": "a key is needed", "details": {}}}',
            )
        else:
            route.continue_()  # type: ignore[attr-defined]

    page.route("**/api/**", guard)  # type: ignore[attr-defined]
    page.goto(f"{populated.service.url}/dashboard")  # type: ignore[attr-defined]
    prompt = page.get_by_label("API key")  # type: ignore[attr-defined]
    prompt.wait_for()
    assert prompt.get_attribute("type") == "password"
    assert page.locator("#main").is_hidden()  # type: ignore[attr-defined]

    prompt.fill("key-123")
    page.get_by_role("button", name="Use this key").click()  # type: ignore[attr-defined]
    page.wait_for_selector("#fig-turns[data-value]")  # type: ignore[attr-defined]
    assert page.evaluate("sessionStorage.getItem('orchestrator.apiKey')") == "key-123"  # type: ignore[attr-defined]
    assert sent[-1] == "Bearer key-123"
    watched.problems = [p for p in watched.problems if "401" not in p]  # the refusals themselves
    watched.assert_clean()
