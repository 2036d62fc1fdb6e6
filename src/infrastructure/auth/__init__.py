"""Credential adapters: JWT verification (``src.domain.authentication.TokenVerifier``)."""
