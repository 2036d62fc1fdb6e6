"""Secure by default: open mode on loopback only, refusal elsewhere, strong secrets."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from src.bootstrap import startup_refusal
from src.infrastructure.auth.exposure import StartupRefused, is_loopback, settle_mode
from src.infrastructure.settings import Settings
from tests.auth.conftest import ADMIN_KEY

ROOT = Path(__file__).resolve().parents[2]


def test_host_defaults_to_loopback() -> None:
    assert Settings(_env_file=None).host == "127.0.0.1"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.1.2.3", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("api.example", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("admin_api_key", "short-but-secret", "ADMIN_API_KEY must be at least 32"),
        ("auth_jwt_secret", "tiny-secret", "AUTH_JWT_SECRET must be at least 32"),
    ],
)
def test_weak_secrets_are_refused_without_being_echoed(
    field: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, **{field: value})
    assert message in str(raised.value)
    assert value not in str(raised.value)


def test_two_jwt_keys_are_ambiguous() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Settings(_env_file=None, auth_jwt_secret="x" * 32, auth_jwt_public_key="pem")


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    settings = Settings(_env_file=None, admin_api_key=ADMIN_KEY, redis_url="redis://:pw@h/0")
    assert ADMIN_KEY not in repr(settings)
    assert "pw" not in repr(settings)


async def test_open_mode_on_loopback_says_so_in_one_line(make_secured: Any, caplog: Any) -> None:
    service = make_secured(admin_api_key=None)
    with caplog.at_level(logging.WARNING, logger="orchestrator.auth"):
        await settle_mode(service.services.authenticator, "127.0.0.1")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "orchestrator.auth"]
    assert "open mode" in line and "ADMIN_API_KEY" in line


async def test_open_mode_elsewhere_refuses_to_start(make_secured: Any) -> None:
    service = make_secured(admin_api_key=None)
    with pytest.raises(StartupRefused, match="ADMIN_API_KEY"):
        await settle_mode(service.services.authenticator, "0.0.0.0")


async def test_auth_disabled_serves_open_anywhere_with_a_warning(
    make_secured: Any, caplog: Any
) -> None:
    service = make_secured(auth_enabled=False)
    with caplog.at_level(logging.WARNING, logger="orchestrator.auth"):
        await settle_mode(service.services.authenticator, "0.0.0.0")
    assert any("AUTH_ENABLED=false" in r.getMessage() for r in caplog.records)
    assert (await service.client().get("/api/sessions")).status_code == 200


async def test_a_credential_source_allows_any_address(make_secured: Any, tmp_path: Path) -> None:
    service = make_secured()
    await settle_mode(service.services.authenticator, "0.0.0.0")
    database = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    exposed = {"host": "0.0.0.0", "database_url": database}
    assert (
        await startup_refusal(Settings(_env_file=None, admin_api_key=ADMIN_KEY, **exposed)) is None
    )
    assert await startup_refusal(Settings(_env_file=None, **exposed)) is not None
    assert (
        await startup_refusal(Settings(_env_file=None, **{**exposed, "host": "127.0.0.1"})) is None
    )
    assert await startup_refusal(Settings(_env_file=None, auth_enabled=False, **exposed)) is None


def _main(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py"],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
            "PORT": "1",  # never reached: the refusal comes before binding
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_main_refuses_to_serve_every_interface_without_a_credential(tmp_path: Path) -> None:
    refused = _main(tmp_path, HOST="0.0.0.0")
    assert refused.returncode == 2
    lines = [line for line in (refused.stdout + refused.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "ADMIN_API_KEY" in lines[0] and "0.0.0.0" in lines[0]
    assert "Traceback" not in refused.stderr
