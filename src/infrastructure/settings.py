"""Every setting of the service, read once from the environment and ``.env`` by ``main.py``.

Provider keys and base URLs are not fields here: each registry entry names its own variables
(``src.infrastructure.llm_providers``), so adding a provider never touches this file. The
composition root hands the same environment mapping to the provider registry.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./orchestrator.db"


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected setting may be a secret; errors name the field only.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    host: str = "127.0.0.1"  # the container and the manifests set 0.0.0.0
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    log_format: Literal["json", "text"] = "text"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    database_url: str = DEFAULT_DATABASE_URL
    # Per process: pool_size + max_overflow connections at most (docs/deployment.md).
    database_pool_size: int = Field(5, ge=1)
    # The SQLAlchemy pool beside the raw driver's: the analytics reads.
    database_side_pool_size: int = Field(1, ge=1)
    database_max_overflow: int = Field(2, ge=0)
    database_pool_timeout_s: float = Field(10.0, gt=0)
    run_migrations_on_start: bool = True
    # Decoded session windows kept per process between turns (window_cache); 0 turns it off.
    window_cache_mb: float = Field(4.0, ge=0)

    default_provider: str = "openai"
    provider_timeout_s: float = Field(60.0, gt=0)
    provider_max_retries: int = Field(2, ge=0, le=10)
    provider_retry_after_cap_s: float = Field(30.0, ge=0)
    circuit_breaker_threshold: int = Field(5, ge=1)
    circuit_breaker_cooldown_s: float = Field(30.0, gt=0)

    session_summarization_threshold: int = Field(20, ge=2)
    session_summary_token_threshold: int = Field(6000, ge=0)
    session_keep_recent: int = Field(6, ge=0)
    max_session_history: int = Field(50, ge=1)
    summary_provider: str | None = None
    summary_model: str | None = None
    session_lock_timeout_s: float = Field(60.0, gt=0)
    session_lease_ttl_s: float = Field(15.0, gt=0)

    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "orchestrator"
    auth_enabled: bool = True
    admin_api_key: SecretStr | None = None
    auth_jwt_secret: SecretStr | None = None
    auth_jwt_public_key: SecretStr | None = None
    auth_jwt_audience: str | None = None
    auth_jwt_issuer: str | None = None
    auth_jwt_tenant_claim: str = "tenant"
    metrics_public: bool = False
    redis_url: SecretStr | None = None
    redis_key_prefix: str = "orchestrator:"

    max_message_chars: int = Field(100_000, ge=1)
    shutdown_grace_s: float = Field(30.0, ge=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accepts a comma-separated list as well as a JSON list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator(
        "summary_provider",
        "summary_model",
        "otel_exporter_otlp_endpoint",
        "admin_api_key",
        "auth_jwt_secret",
        "auth_jwt_public_key",
        "auth_jwt_audience",
        "auth_jwt_issuer",
        "redis_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _credentials_are_strong_and_unambiguous(self) -> Settings:
        """A guessable admin key or HMAC secret would undo everything else."""
        if self.admin_api_key is not None and len(self.admin_api_key.get_secret_value()) < 32:
            raise ValueError("ADMIN_API_KEY must be at least 32 characters")
        if self.auth_jwt_secret is not None:
            if len(self.auth_jwt_secret.get_secret_value()) < 32:
                raise ValueError("AUTH_JWT_SECRET must be at least 32 characters")
            if self.auth_jwt_public_key is not None:
                raise ValueError("set AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY, not both")
        return self
