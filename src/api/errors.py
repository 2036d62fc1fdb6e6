"""Turns every failure into the one error envelope of SPEC §3; the only place that knows HTTP
status codes for domain errors.

Nothing internal reaches a client: unexpected exceptions answer a bare 500 envelope and are
logged by type only, never with a stack trace or message that could carry a secret (that
last line of defence is in ``middleware``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from src.domain import errors as domain


class ApiError(Exception):
    """An error raised by the API layer itself (size limits, draining)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after


def payload_too_large(field: str, limit: int, size: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"{field} has {size} characters; the limit is {limit} (MAX_MESSAGE_CHARS)",
        {"field": field, "limit": limit, "size": size},
    )


def draining() -> ApiError:
    return ApiError(
        503,
        "service_unavailable",
        "this instance is shutting down and takes no new turns; retry on another",
        retry_after=1,
    )


# Domain error type -> (HTTP status, code). The first matching base class wins.
_DOMAIN_STATUS: tuple[tuple[type[domain.OrchestratorError], int, str], ...] = (
    (domain.InvalidInput, 400, "invalid_request"),
    (domain.SessionNotFound, 404, "session_not_found"),
    (domain.SessionBusy, 409, "session_busy"),
    (domain.IdempotencyConflict, 409, "idempotency_conflict"),
    (domain.Unauthorized, 401, "unauthorized"),
    (domain.Forbidden, 403, "forbidden"),
    (domain.BudgetExceeded, 402, "budget_exceeded"),
    (domain.RateLimited, 429, "rate_limited"),
    (domain.KeyNotFound, 404, "key_not_found"),
    (domain.AgentNotFound, 404, "agent_not_found"),
    (domain.AgentExists, 409, "agent_exists"),
    (domain.StorageUnavailable, 503, "storage_unavailable"),
    (domain.ProviderNotConfigured, 503, "provider_not_configured"),
    (domain.ProviderUnavailable, 503, "provider_unavailable"),
    (domain.ProviderTimeout, 504, "provider_timeout"),
    (domain.ProviderRejectedRequest, 400, "invalid_request"),
    (domain.ProviderError, 502, "provider_error"),
)


def status_of(error: domain.OrchestratorError) -> tuple[int, str]:
    for kind, status, code in _DOMAIN_STATUS:
        if isinstance(error, kind):
            return status, code
    return 500, "internal_error"


def envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    headers = dict(headers or {})
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


# What may end a stream that has begun: a turn's error, or being cut off at shutdown.
STREAM_FAILURES = (domain.OrchestratorError, ApiError)
StreamFailure = domain.OrchestratorError | ApiError


def described(error: StreamFailure) -> tuple[int, str]:
    """(HTTP status, code) of a domain or API error."""
    if isinstance(error, ApiError):
        return error.status, error.code
    return status_of(error)


def error_body(error: StreamFailure) -> dict[str, Any]:
    """The envelope of an error, for responses and for a stream's ``error`` event."""
    _, code = described(error)
    return {"error": {"code": code, "message": error.message, "details": error.details}}


def domain_error_response(error: domain.OrchestratorError) -> JSONResponse:
    status, code = status_of(error)
    retry_after = getattr(error, "retry_after", None)
    if code == "provider_unavailable" and retry_after is None:
        retry_after = 1.0
    return envelope(status, code, error.message, error.details, retry_after)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_response(exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        field = _field_name(loc)
        if kind == "json_invalid":
            # The location is ("body", character offset): the field is the body itself.
            field = "body"
            reason = (err.get("ctx") or {}).get("error")
            at = f"at character {loc[-1]}" if len(loc) > 1 else ""
            said = ", ".join(part for part in (reason, at) if part)
            message = "the request body is not valid JSON" + (f" ({said})" if said else "")
        elif kind == "extra_forbidden":
            message = f"{field} is not a known field"
        else:
            message = f"{field}: {err.get('msg', 'is invalid')}"
        problems.append({"field": field, "type": kind, "message": message})
    summary = "; ".join(p["message"] for p in problems) or "the request is invalid"
    return envelope(422, "validation_error", summary, {"errors": problems})


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


OPENAI_PREFIX = "/v1/"


def openai_error_body(
    status: int, code: str, message: str, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape, for the OpenAI-compatible endpoints; ``param`` names the field."""
    kind = "invalid_request_error" if status < 500 else "api_error"
    if status == 401:
        kind = "authentication_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _param_of(details: dict[str, Any]) -> str | None:
    """The request field an error names: its own, or the first failed validation's."""
    if isinstance(details.get("field"), str):
        return str(details["field"])
    errors = details.get("errors") or [{}]
    field = errors[0].get("field")
    return str(field) if field else None


_KEPT_HEADERS = frozenset({"retry-after", "allow", "www-authenticate"})


def _in_openai_format(request: Request, response: JSONResponse) -> JSONResponse:
    """Re-shapes an envelope response for ``/v1`` paths, keeping its headers; an invalid
    request is 400 there, as OpenAI answers it (422 on ``/api``)."""
    if not request.url.path.startswith(OPENAI_PREFIX):
        return response
    error = json.loads(bytes(response.body))["error"]
    param = _param_of(error.get("details") or {})
    status = 400 if response.status_code == 422 else response.status_code
    body = openai_error_body(status, error["code"], error["message"], param)
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(domain.OrchestratorError)
    async def _domain(request: Request, exc: domain.OrchestratorError) -> JSONResponse:
        return _in_openai_format(request, domain_error_response(exc))

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        response = envelope(exc.status, exc.code, exc.message, exc.details, exc.retry_after)
        return _in_openai_format(request, response)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _in_openai_format(request, validation_response(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        message = (
            f"no route {request.method} {request.url.path}"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        # A 405 carries ``Allow`` (RFC 9110), which Starlette puts in the exception's headers.
        response = envelope(exc.status_code, code, message, headers=exc.headers)
        return _in_openai_format(request, response)
