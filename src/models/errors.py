"""The error envelopes: ours for ``/api``, OpenAI's shape for the OpenAI-compatible ``/v1``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(examples=["session_not_found"])
    message: str = Field(examples=["session 'sess_0123' does not exist"])
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class OpenAIErrorBody(BaseModel):
    message: str = Field(examples=["the provider did not answer in time"])
    type: str = Field(examples=["api_error"], description="`invalid_request_error`, `api_error`...")
    param: str | None = Field(None, examples=[None])
    code: str = Field(examples=["provider_timeout"], description="The same codes as `/api`.")


class OpenAIErrorEnvelope(BaseModel):
    error: OpenAIErrorBody
