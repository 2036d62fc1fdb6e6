"""What every provider adapter shares: its configuration, its shape, and one error mapping.

An adapter is one module with one public class deriving from ``ProviderAdapter``. It is
handed its ``ProviderSpec`` (name, default model, known models, key variable), which the
registry states without importing the SDK, and translates the domain's ``ChatRequest`` to
its SDK's call, the SDK's response back to a ``ChatResult``, and the SDK's exceptions to
domain errors through ``error_for_status`` so that every provider fails the same way.
Retries and the circuit breaker live in ``resilience``; adapters switch their SDK's own
retries off so the two never multiply.
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from src.domain.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderTimeout,
)
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    ProviderSpec,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TokenUsage,
)
from src.domain.tokens import estimated_usage

DEFAULT_MAX_OUTPUT_TOKENS = 4096
# Upstream error text is quoted to clients; long bodies are cut to this many characters.
MAX_UPSTREAM_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Settings one adapter is built with; read once by the composition root."""

    api_key: str | None
    base_url: str | None = None
    timeout_s: float = 60.0
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS


class ProviderAdapter(ABC):
    """Base of the adapters: holds the spec and the config, and builds their domain errors.

    Each subclass builds one long-lived SDK client in its constructor and closes it in
    ``aclose``. A key is required unless the spec names no key variable (a local runtime);
    without one the SDKs would fall back to reading the process environment themselves.
    """

    def __init__(self, spec: ProviderSpec, config: ProviderConfig) -> None:
        if not config.api_key and spec.key_variable is not None:
            raise ProviderNotConfigured(spec.name, spec.key_variable)
        self._config = config
        self._spec = spec

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    @property
    def name(self) -> str:
        return self._spec.name

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResult: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None:  # noqa: B027 - adapters without a client have nothing to close
        """Closes the SDK client's connection pool."""

    def output_ceiling(self, request: ChatRequest) -> int:
        """The request's ``max_tokens``, else the configured ceiling, for APIs that need one."""
        return request.max_tokens or self._config.max_output_tokens

    # -- domain errors, worded the same for every provider ----------------------------------

    def timed_out(self) -> ProviderTimeout:
        return ProviderTimeout(self.name, f"{self.name} did not answer in time")

    def unreachable(self) -> ProviderConnectionError:
        return ProviderConnectionError(self.name, f"could not reach {self.name}")

    def unreadable(self, what: str = "a response we cannot read") -> ProviderServerError:
        """A body that does not parse or lacks the answer: status None, so it is not retried."""
        return ProviderServerError(self.name, f"{self.name} sent {what}")

    def error_for_status(
        self,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> ProviderError:
        """The domain error for an upstream HTTP status, the same for every provider.

        ``message`` is the provider's own text: our key is masked out of it (some providers echo
        it back) and it is cut short, since it reaches clients and logs.
        """
        name = self.name
        if self._config.api_key:
            message = message.replace(self._config.api_key, "***")
        message = message[:MAX_UPSTREAM_MESSAGE]
        retry_after = retry_after_seconds(headers or {})
        if status in (401, 403):
            return ProviderAuthError(name, self._spec.key_variable or "its API key", status)
        if status == 429:
            return ProviderRateLimited(
                name, f"{name} is rate limiting requests", status=status, retry_after=retry_after
            )
        if status in (408, 504):
            return ProviderTimeout(name, f"{name} timed out", status=status)
        if status >= 500:
            return ProviderServerError(
                name, f"{name} failed with HTTP {status}: {message}", status=status
            )
        return ProviderRejectedRequest(
            name, f"{name} rejected the request: {message}", status=status
        )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)


class StreamAssembly:
    """Builds a streamed reply as its chunks arrive: the one way every adapter ends a stream.

    A stream is complete only once the provider said how it ended (``finish``). A body that
    stops before that was cut, and ``end`` refuses to pass its fragment off as the reply.
    """

    def __init__(self, provider: str, request: ChatRequest) -> None:
        self._provider = provider
        self._request = request
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self.model = request.model
        self.usage: TokenUsage | None = None
        self.finish_reason: str | None = None
        self._finished = False

    def text(self, piece: str | None) -> TextDelta | None:
        """The delta to forward at once, or None for an empty piece."""
        if not piece:
            return None
        self._text.append(piece)
        return TextDelta(piece)

    def thought(self, piece: str | None) -> None:
        if piece:
            self._reasoning.append(piece)

    def finish(self, reason: str | None) -> None:
        """Marks the stream complete once the provider gave its finish reason."""
        if reason:
            self.finish_reason = reason
            self._finished = True

    def end(self) -> StreamEnd:
        if not self._finished:
            raise ProviderConnectionError(
                self._provider, f"{self._provider} closed the stream before its end"
            )
        reply = "".join(self._text)
        return StreamEnd(
            ChatResult(
                text=reply,
                model=self.model,
                usage=self.usage or estimated_usage(self._request, reply),
                finish_reason=self.finish_reason,
                reasoning_content="".join(self._reasoning) or None,
            )
        )


def extra_count(extras: Mapping[str, object], group: str, field: str) -> int:
    """A token count the SDK does not declare (``usage.<group>.<field>``, a pydantic extra).

    Absent, malformed or negative counts are 0: usage is accounted, never refused.
    """
    details = extras.get(group)
    return positive_count(details.get(field)) if isinstance(details, Mapping) else 0


def positive_count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0
