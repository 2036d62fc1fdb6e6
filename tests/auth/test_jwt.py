"""JWTs: accepted only when signed by the configured key with its one algorithm, current,
for this audience and issuer; the tenant comes from the configured claim (else ``sub``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from src.domain.errors import Unauthorized
from src.infrastructure.auth.jwt import JwtVerifier
from tests.auth.conftest import Secured

SECRET = "s" * 48
AUDIENCE = "orchestrator"
ISSUER = "https://idp.example"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {"sub": "user-1", "tenant": "acme", "aud": AUDIENCE, "iss": ISSUER, "exp": now + 300}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token built by hand, as an attacker would: PyJWT itself refuses to make these."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def hs256() -> JwtVerifier:
    return JwtVerifier(secret=SECRET, audience=AUDIENCE, issuer=ISSUER)


def rs256() -> JwtVerifier:
    return JwtVerifier(public_key_pem=_pem(RSA_KEY), audience=AUDIENCE, issuer=ISSUER)


async def test_a_valid_token_is_its_tenant_over_http(make_secured: Any) -> None:
    service: Secured = make_secured(jwt=hs256())
    acme = service.client(jwt.encode(claims(), SECRET, algorithm="HS256"))
    other = service.client(jwt.encode(claims(tenant="globex"), SECRET, algorithm="HS256"))
    session_id = (await acme.post("/api/orchestrate", json={"message": "hi"})).json()["session_id"]

    assert (await acme.get(f"/api/sessions/{session_id}")).status_code == 200
    assert (await other.get(f"/api/sessions/{session_id}")).status_code == 404
    assert (await acme.get("/api/admin/keys")).status_code == 403  # a JWT is never admin
    (call,) = service.store.data.calls
    assert (call.tenant, call.key_id) == ("acme", None)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: jwt.encode(claims(exp=int(time.time()) - 120), SECRET), "expired"),
        (lambda: jwt.encode(claims(nbf=int(time.time()) + 600), SECRET), "not yet valid"),
        (lambda: jwt.encode(claims(aud="someone-else"), SECRET), "audience"),
        (lambda: jwt.encode(claims(iss="https://evil.example"), SECRET), "issuer"),
        (lambda: jwt.encode(claims(exp=None), SECRET), "exp"),
        (lambda: jwt.encode(claims(), "w" * 48), "signature"),
        (lambda: forged({"alg": "none", "typ": "JWT"}, claims(), None), "alg"),
        (lambda: jwt.encode(claims(tenant=None, sub=None), SECRET), "tenant"),
        (lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS256"), "alg"),
    ],
    ids=["expired", "nbf", "aud", "iss", "no-exp", "signature", "alg-none", "no-tenant", "rs256"],
)
async def test_bad_tokens_get_401(make_secured: Any, token: Any, reason: str) -> None:
    service: Secured = make_secured(jwt=hs256())
    response = await service.client(token()).get("/api/sessions")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_the_tenant_falls_back_to_sub_and_the_claim_is_configurable() -> None:
    assert hs256().verify(jwt.encode(claims(tenant=None), SECRET)).tenant == "user-1"
    custom = JwtVerifier(secret=SECRET, audience=AUDIENCE, issuer=ISSUER, tenant_claim="org")
    assert custom.verify(jwt.encode(claims(org="initech"), SECRET)).tenant == "initech"


def test_rs256_and_es256_public_keys_pin_their_algorithm() -> None:
    assert rs256().algorithms == ("RS256",)
    assert rs256().verify(jwt.encode(claims(), RSA_KEY, algorithm="RS256")).tenant == "acme"
    es256 = JwtVerifier(public_key_pem=_pem(EC_KEY), audience=AUDIENCE, issuer=ISSUER)
    assert es256.algorithms == ("ES256",)
    assert es256.verify(jwt.encode(claims(), EC_KEY, algorithm="ES256")).tenant == "acme"


def test_hs256_signed_with_the_rs256_public_key_is_refused() -> None:
    """Algorithm confusion: the public key is public, so it must never serve as an HMAC key."""
    token = forged({"alg": "HS256", "typ": "JWT"}, claims(), _pem(RSA_KEY).encode())
    with pytest.raises(Unauthorized):
        rs256().verify(token)
    with pytest.raises(Unauthorized):
        rs256().verify(forged({"alg": "none"}, claims(), None))


def test_a_verifier_needs_exactly_one_usable_key() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        JwtVerifier()
    with pytest.raises(ValueError, match="exactly one"):
        JwtVerifier(secret=SECRET, public_key_pem=_pem(RSA_KEY))
    with pytest.raises(ValueError, match="PEM"):
        JwtVerifier(public_key_pem="not a key")
    with pytest.raises(ValueError, match="RSA or P-256"):
        JwtVerifier(public_key_pem=_pem(ed25519.Ed25519PrivateKey.generate()))


async def test_jwt_settings_switch_authentication_on(make_secured: Any) -> None:
    service: Secured = make_secured(
        admin_api_key=None,
        auth_jwt_secret=SECRET,
        auth_jwt_audience=AUDIENCE,
        auth_jwt_issuer=ISSUER,
    )
    assert (await service.client().get("/api/sessions")).status_code == 401
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert (await service.client(token).get("/api/sessions")).status_code == 200
