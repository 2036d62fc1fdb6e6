"""The domain's error vocabulary; only the API layer turns these into HTTP.

    OrchestratorError
    ├── InvalidInput                 the caller asked for something impossible
    ├── SessionNotFound
    ├── SessionBusy                  another turn held the session past the lock timeout
    ├── IdempotencyConflict          a key reused with a different request
    ├── Unauthorized                 no credential, or one that is unknown, revoked, expired
    ├── Forbidden                    a tenant credential on an operator's route
    ├── RateLimited                  a key over its turns or tokens per minute
    ├── BudgetExceeded               a key whose recorded spend reached its budget
    ├── KeyNotFound                  no API key with that id (the admin's key routes)
    ├── AgentNotFound                no agent preset of that name in the tenant
    ├── AgentExists                  the tenant already has an agent preset of that name
    ├── StorageUnavailable           the database has no connection to spare now (transient)
    └── ProviderError                anything that went wrong talking to a provider
        ├── ProviderNotConfigured    no key set; names the variable to set
        ├── ProviderUnavailable      circuit open, or still rate limited after retries
        │   ├── ProviderRateLimited  upstream 429 (transient)
        │   ├── ProviderOverloaded   upstream 503, with its Retry-After (transient)
        │   └── ProviderConnectionError  connection refused or dropped (transient)
        ├── ProviderTimeout          no answer within the time limit (transient)
        ├── ProviderServerError      upstream 5xx or a body we cannot read (5xx is transient)
        ├── ProviderAuthError        upstream rejected our key; names the key variable
        └── ProviderRejectedRequest  upstream 4xx caused by the request (unknown model, too long)

Adapters raise only these; the resilience layer retries the ones marked ``transient``.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = details or {}


class InvalidInput(OrchestratorError):
    """The request names something that does not exist or cannot be done (400)."""


class SessionNotFound(OrchestratorError):
    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"session {session_id!r} does not exist", details={"session_id": session_id}
        )
        self.session_id = session_id


class SessionBusy(OrchestratorError):
    def __init__(self, session_id: str, waited_s: float) -> None:
        super().__init__(
            f"session {session_id!r} is busy with another turn (waited {waited_s:g}s)",
            details={"session_id": session_id},
        )
        self.retry_after: float | None = 1.0


class IdempotencyConflict(OrchestratorError):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different request",
            details={"idempotency_key": key},
        )


class Unauthorized(OrchestratorError):
    """The request carries no credential this service accepts (401)."""


class Forbidden(OrchestratorError):
    """The credential is valid but may not do this (403)."""


class RateLimited(OrchestratorError):
    def __init__(self, key_id: str, limit: str, retry_after: float) -> None:
        super().__init__(
            f"key {key_id} is over its {limit}; retry in {max(1, round(retry_after))}s",
            details={"key_id": key_id, "limit": limit},
        )
        self.retry_after: float | None = retry_after


class BudgetExceeded(OrchestratorError):
    def __init__(self, key_id: str, budget: object, spent: object) -> None:
        super().__init__(
            f"key {key_id} has spent ${spent} of its ${budget} budget",
            details={"key_id": key_id, "budget_usd": str(budget), "spent_usd": str(spent)},
        )


class KeyNotFound(OrchestratorError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id!r} does not exist", details={"key_id": key_id})


class AgentNotFound(OrchestratorError):
    def __init__(self, name: str) -> None:
        super().__init__(f"agent {name!r} does not exist", details={"agent": name})


class AgentExists(OrchestratorError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"agent {name!r} already exists: replace it with PUT /api/agents/{name}",
            details={"agent": name},
        )


class StorageUnavailable(OrchestratorError):
    """Every database connection this process may use stayed busy, or the server refused one.

    Transient: the caller should retry after ``retry_after`` seconds (503, never 500).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database is saturated ({reason}); retry shortly")
        self.retry_after: float | None = 1.0


class ProviderError(OrchestratorError):
    """A provider call failed; ``transient`` failures may succeed if retried."""

    transient: bool = False

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        merged: dict[str, object] = {"provider": provider}
        if status is not None:
            merged["upstream_status"] = status
        merged.update(details or {})
        super().__init__(message, details=merged)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after


class ProviderNotConfigured(ProviderError):
    def __init__(self, provider: str, variable: str) -> None:
        super().__init__(
            provider,
            f"provider {provider!r} is not configured: set {variable}",
            details={"variable": variable},
        )


class ProviderUnavailable(ProviderError):
    """The provider cannot take calls now (circuit open, or rate limited after retries)."""


class ProviderRateLimited(ProviderUnavailable):
    transient = True


class ProviderOverloaded(ProviderUnavailable):
    """The upstream said it cannot serve now (HTTP 503): so do we, with its Retry-After."""

    transient = True


class ProviderConnectionError(ProviderUnavailable):
    transient = True


class ProviderTimeout(ProviderError):
    transient = True


class ProviderServerError(ProviderError):
    """Upstream 5xx (transient) or a malformed body (not transient)."""

    @property
    def transient(self) -> bool:  # type: ignore[override]
        return self.status is not None and self.status >= 500


class ProviderAuthError(ProviderError):
    def __init__(self, provider: str, variable: str, status: int | None = None) -> None:
        super().__init__(
            provider,
            f"provider {provider!r} rejected the configured key: check {variable}",
            status=status,
            details={"variable": variable},
        )


class ProviderRejectedRequest(ProviderError):
    """Upstream refused the request itself (unknown model, context too long...)."""
