"""Contracts of ``/api/admin/keys``: the secret appears in ``KeyCreated`` only."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "billing-backend",
                    "tenant": "acme",
                    "rate_limit_rpm": 60,
                    "token_limit_tpm": 100000,
                    "budget_usd": 25.0,
                    "expires_at": None,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100)
    tenant: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Defaults to the key's own id: a tenant of its own.",
    )
    rate_limit_rpm: int | None = Field(None, ge=1, description="Turns per minute.")
    token_limit_tpm: int | None = Field(None, ge=1, description="Tokens per minute.")
    budget_usd: float | None = Field(None, gt=0, description="Spend after which turns get 402.")
    expires_at: AwareDatetime | None = None


class KeyOut(BaseModel):
    id: str = Field(examples=["key_3b1f0c9e2a7d4e6f8a0b1c2d3e4f5a6b"])
    name: str
    tenant: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_limit_rpm: int | None
    token_limit_tpm: int | None
    budget_usd: float | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret: shown in this response only, never again.")


class KeyStatusOut(KeyOut):
    active: bool = Field(description="Neither revoked nor expired.")
    spent_usd: float = Field(description="Recorded cost of this key's provider calls.")


class KeyList(BaseModel):
    keys: list[KeyStatusOut]
