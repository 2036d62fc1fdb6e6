"""Every setting of the service, read once from the environment and ``.env`` by ``main.py``.

Provider keys and base URLs are not fields here: each registry entry names its own variables
(``src.infrastructure.llm_providers``), so adding a provider never touches this file. The
composition root hands the same environment mapping to the provider registry.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./orchestrator.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on every interface
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    database_url: str = DEFAULT_DATABASE_URL
    # Per process: pool_size + max_overflow connections at most (docs/deployment.md).
    database_pool_size: int = Field(6, ge=1)
    database_max_overflow: int = Field(2, ge=0)
    database_pool_timeout_s: float = Field(10.0, gt=0)
    run_migrations_on_start: bool = True

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

    @field_validator("summary_provider", "summary_model", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value
