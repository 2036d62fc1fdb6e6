"""Two tenants through the served application: keys made with the CLI, turns over /api and
through the real openai SDK on /v1, and no secret left in the log or the database file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from typer.testing import CliRunner

from src.cli import app as cli
from src.domain.identity import digest
from tests.integration.conftest import StartService

ADMIN = "admin-" + "k" * 40
runner = CliRunner(env={"COLUMNS": "200", "ORCHESTRATOR_URL": None, "ORCHESTRATOR_API_KEY": None})


def create_key(url: str, name: str, tenant: str) -> str:
    result = runner.invoke(
        cli, ["keys", "create", name, "--tenant", tenant, "--url", url, "--api-key", ADMIN]
    )
    assert result.exit_code == 0, result.output
    secret: str = result.output.strip().splitlines()[-1]
    assert secret.startswith("orch_")
    return secret


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_two_tenants_see_only_their_own(
    start_service: StartService, tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    service = start_service(admin_api_key=ADMIN, access_log=True, log_level="debug")
    alice_key = create_key(service.url, "alice-backend", "alice")
    bob_key = create_key(service.url, "bob-backend", "bob")
    alice, bob = client(service.url, alice_key), client(service.url, bob_key)

    turn = alice.post("/api/orchestrate", json={"message": "alice's plan"})
    assert turn.status_code == 200, turn.text
    session_id = turn.json()["session_id"]
    bob.post("/api/orchestrate", json={"message": "bob's plan"})

    assert [s["session_id"] for s in alice.get("/api/sessions").json()["sessions"]] == [session_id]
    assert session_id not in bob.get("/api/sessions").text
    assert bob.get(f"/api/sessions/{session_id}/history").status_code == 404
    assert alice.get("/api/metrics").json()["sessions"]["total_created"] == 1

    sdk_alice = openai.OpenAI(api_key=alice_key, base_url=f"{service.url}/v1", max_retries=0)
    sdk_bob = openai.OpenAI(api_key=bob_key, base_url=f"{service.url}/v1", max_retries=0)
    message = [{"role": "user", "content": "and then?"}]
    reply = sdk_alice.chat.completions.create(
        model="openai",
        messages=message,
        extra_headers={"X-Session-Id": session_id},  # type: ignore[arg-type]
    )
    assert reply.choices[0].message.content
    with pytest.raises(openai.NotFoundError):
        sdk_bob.chat.completions.create(
            model="openai",
            messages=message,
            extra_headers={"X-Session-Id": session_id},  # type: ignore[arg-type]
        )
    assert alice.get(f"/api/sessions/{session_id}").json()["message_count"] == 4
    assert sdk_bob.models.list().data  # bob may use the gateway, just not alice's session
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="orch_" + "z" * 43, base_url=f"{service.url}/v1").models.list()

    listed = runner.invoke(cli, ["keys", "list", "--url", service.url, "--api-key", ADMIN])
    assert listed.exit_code == 0, listed.output
    assert "alice-backend" in listed.output and "bob-backend" in listed.output
    bob_id = next(
        k["id"]
        for k in service.http.get(
            "/api/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"}
        ).json()["keys"]
        if k["tenant"] == "bob"
    )
    revoked = runner.invoke(
        cli, ["keys", "revoke", bob_id, "--url", service.url, "--api-key", ADMIN]
    )
    assert revoked.exit_code == 0, revoked.output
    assert bob.get("/api/sessions").status_code == 401
    sessions = runner.invoke(
        cli, ["sessions", "list", "--url", service.url, "--api-key", alice_key]
    )
    assert sessions.exit_code == 0 and session_id in sessions.output
    service.stop()

    secrets = [alice_key, bob_key, ADMIN, digest(alice_key), digest(bob_key)]
    log_text = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /api/sessions" in log_text  # the log was captured
    for secret in secrets:
        assert secret not in log_text
        assert secret not in listed.output
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("db.sqlite*"))
    assert b"alice-backend" in stored  # the keys are there, as digests
    for secret in (alice_key, bob_key, ADMIN):
        assert secret.encode() not in stored


def test_keys_commands_with_limits_expiry_and_refusals(start_service: StartService) -> None:
    service = start_service(admin_api_key=ADMIN)
    base = ["--url", service.url, "--api-key", ADMIN]
    created = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "limited",
            "--rpm",
            "5",
            "--tpm",
            "900",
            "--budget",
            "2.5",
            "--expires",
            "2099-01-31T00:00:00",
            *base,
        ],
    )
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    (key,) = service.http.get(
        "/api/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()["keys"]
    assert (key["rate_limit_rpm"], key["token_limit_tpm"], key["budget_usd"]) == (5, 900, 2.5)
    assert key["expires_at"].startswith("2099-01-31T00:00:00")
    assert key["tenant"] == key["id"]

    listed = runner.invoke(cli, ["keys", "list", *base])
    assert listed.exit_code == 0 and "limited" in listed.output and "active" in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", key["id"], *base])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list", *base]).output

    as_tenant = runner.invoke(cli, ["keys", "list", "--url", service.url, "--api-key", secret])
    assert as_tenant.exit_code == 1
    assert "(unauthorized)" in as_tenant.output  # revoked by now
    other = runner.invoke(cli, ["keys", "create", "x", *base]).output.strip().splitlines()[-1]
    forbidden = runner.invoke(cli, ["keys", "list", "--url", service.url, "--api-key", other])
    assert forbidden.exit_code == 1 and "(forbidden)" in forbidden.output
    anonymous = runner.invoke(cli, ["providers", "--url", service.url])
    assert anonymous.exit_code == 1 and "(unauthorized)" in anonymous.output
    missing = runner.invoke(cli, ["keys", "revoke", "key_nope", *base])
    assert missing.exit_code == 1 and "(key_not_found)" in missing.output
    for output in (listed.output, as_tenant.output, forbidden.output):
        assert secret not in output and ADMIN not in output
