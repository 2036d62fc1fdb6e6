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
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def error_body(error: domain.OrchestratorError) -> dict[str, Any]:
    """The envelope of a domain error, for responses and for a stream's ``error`` event."""
    _, code = status_of(error)
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
            message = "the request body is not valid JSON"
        elif kind == "extra_forbidden":
            message = f"{field} is not a known field"
        else:
            message = f"{field}: {err.get('msg', 'is invalid')}"
        problems.append({"field": field, "type": kind, "message": message})
    summary = "; ".join(p["message"] for p in problems) or "the request is invalid"
    return envelope(422, "validation_error", summary, {"errors": problems})


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


OPENAI_PREFIX = "/v1/"


def openai_error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """OpenAI's error shape, for the OpenAI-compatible endpoints."""
    kind = "invalid_request_error" if status < 500 else "api_error"
    if status == 401:
        kind = "authentication_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


_KEPT_HEADERS = frozenset({"retry-after", "allow"})


def _in_openai_format(request: Request, response: JSONResponse) -> JSONResponse:
    """Re-shapes an envelope response for ``/v1`` paths, keeping status and headers."""
    if not request.url.path.startswith(OPENAI_PREFIX):
        return response
    error = json.loads(bytes(response.body))["error"]
    body = openai_error_body(response.status_code, error["code"], error["message"])
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    return JSONResponse(body, status_code=response.status_code, headers=headers)


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
