"""Secure by default: whether this process may serve, and in which mode (SPEC §7).

With no ``ADMIN_API_KEY``, no JWT setting and no stored API key there is nothing to check a
credential against. On a loopback address that is open mode (one tenant, ``default``),
announced in one warning line; on any other address the process refuses to start, naming
``ADMIN_API_KEY``, unless ``AUTH_ENABLED=false`` says open on purpose (then it warns).
"""

from __future__ import annotations

import ipaddress
import logging

from src.domain.authentication import Authenticator

log = logging.getLogger("orchestrator.auth")


class StartupRefused(Exception):
    """The process would serve every caller without a credential on a reachable address."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


def refusal(host: str) -> str:
    return (
        f"refusing to serve on {host} with no credential to check: set ADMIN_API_KEY "
        "(or AUTH_JWT_SECRET / AUTH_JWT_PUBLIC_KEY), bind HOST=127.0.0.1, or set "
        "AUTH_ENABLED=false to serve without authentication on purpose"
    )


async def settle_mode(authenticator: Authenticator, host: str) -> None:
    """Decides open mode once the database is migrated; raises ``StartupRefused``."""
    open_mode = await authenticator.decide_mode()
    if not authenticator.enabled:
        log.warning(
            "AUTH_ENABLED=false: every caller on %s is tenant 'default', no credential asked",
            host,
        )
    elif open_mode:
        if not is_loopback(host):
            raise StartupRefused(refusal(host))
        log.warning(
            "open mode: no ADMIN_API_KEY, JWT setting or API key; every caller on %s is "
            "tenant 'default' (set ADMIN_API_KEY to require credentials)",
            host,
        )
