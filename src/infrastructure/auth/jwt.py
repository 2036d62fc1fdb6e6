"""JWT verification with PyJWT: the signature, ``exp`` (required), ``nbf``, ``aud``, ``iss``.

The accepted algorithms are pinned by the kind of key configured, never read from the token:
an HS256 secret accepts only HS256; an RSA public key only RS256; a P-256 public key only
ES256. So ``alg: none`` is refused, and so is algorithm confusion (an HS256 token "signed"
with the RSA public key as its secret). The tenant is the claim named by
``AUTH_JWT_TENANT_CLAIM``, else ``sub``. A JWT carries no per-key limits and is never admin.
"""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from src.domain.errors import Unauthorized
from src.domain.identity import Principal

# Clock skew tolerated between the issuer and this service.
LEEWAY_S = 30


class JwtVerifier:
    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key_pem: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        tenant_claim: str = "tenant",
    ) -> None:
        if (secret is None) == (public_key_pem is None):
            raise ValueError("set exactly one of AUTH_JWT_SECRET and AUTH_JWT_PUBLIC_KEY")
        self._key: Any
        if public_key_pem is not None:
            self._key, self._algorithms = _public_key(public_key_pem)
        else:
            self._key, self._algorithms = secret, ["HS256"]
        self._audience = audience
        self._issuer = issuer
        self._tenant_claim = tenant_claim

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._algorithms)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"the token is not accepted: {_reason(error)}") from None
        tenant = claims.get(self._tenant_claim) or claims.get("sub")
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized(f"the token names no tenant ({self._tenant_claim!r} or 'sub')")
        return Principal(tenant=tenant)


def _public_key(pem: str) -> tuple[Any, list[str]]:
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError("AUTH_JWT_PUBLIC_KEY is not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key, ["RS256"]
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, ["ES256"]
    raise ValueError("AUTH_JWT_PUBLIC_KEY must be an RSA or P-256 (ES256) public key")


def _reason(error: jwt.InvalidTokenError) -> str:
    """PyJWT's own wording, which names the claim or the signature, never the token."""
    return str(error) or type(error).__name__
