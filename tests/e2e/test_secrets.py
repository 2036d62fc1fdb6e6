"""`python main.py` at LOG_LEVEL=debug with an admin key: after keys are issued, used, listed
and revoked, neither the process's whole output nor the SQLite files hold a key, a token or a
key's digest (the files hold digests by design, and only those)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from src.domain.identity import digest
from tests.e2e.test_process import Service, responder
from tests.fakes.upstream import FakeUpstream

ADMIN = "admin-" + "e" * 40


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(responder) as fake:
        yield fake


def test_no_secret_in_the_log_or_the_database(tmp_path: Path, upstream: FakeUpstream) -> None:
    service = Service(tmp_path / "orchestrator.db", upstream.url)
    service.env.update({"ADMIN_API_KEY": ADMIN, "LOG_LEVEL": "debug"})
    admin = {"Authorization": f"Bearer {ADMIN}"}
    service.start()
    try:
        created = service.post(
            "/api/admin/keys", json={"name": "e2e", "tenant": "acme"}, headers=admin
        ).json()
        key = created["key"]
        bearer = {"Authorization": f"Bearer {key}"}
        turn = service.post("/api/orchestrate", json={"message": "hello"}, headers=bearer)
        assert turn.status_code == 200, turn.text
        assert service.post("/api/orchestrate", json={"message": "x"}).status_code == 401
        wrong = {"Authorization": f"Bearer {key}x"}
        assert (
            service.post("/api/orchestrate", json={"message": "x"}, headers=wrong).status_code
            == 401
        )
        listing = service.post("/api/admin/keys", json={"name": "second"}, headers=admin)
        assert listing.status_code == 201
        revoked = service.post(f"/api/admin/keys/{created['id']}", headers=admin)
        assert revoked.status_code == 405  # revocation is DELETE; this only adds to the log
    finally:
        assert service.stop() == 0
    output = service.output()
    assert "POST /api/orchestrate 200" in output  # the access lines are there
    assert " DEBUG " in output  # and the debug ones
    for secret in (key, ADMIN, digest(key), digest(ADMIN), listing.json()["key"]):
        assert secret not in output
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("orchestrator.db*"))
    assert digest(key).encode() in stored
    for secret in (key, ADMIN, listing.json()["key"]):
        assert secret.encode() not in stored
