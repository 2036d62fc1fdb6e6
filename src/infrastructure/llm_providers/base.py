"""What every provider adapter shares: its configuration, one call template, one error mapping.

An adapter is one module with one public class deriving from ``ProviderAdapter``. It is
handed its ``ProviderSpec`` (name, default model, known models, key variable), which the
registry states without importing the SDK, and fills in the template's hooks:

* ``_params``: the SDK call's arguments, built once for a whole and a streamed call alike;
* ``_send`` and ``_open_stream``: the SDK call itself, whole or streamed;
* ``_result`` and ``_read_chunk``: the SDK's response, or each of its stream chunks, in the
  domain's terms (``ChatResult``, ``StreamEvent``);
* ``_upstream_status`` and the ``TIMEOUT_ERRORS``/``CONNECTION_ERRORS``/``UNREADABLE_ERRORS``
  class tuples: how its SDK says an upstream status, a time-out, a dropped connection or a
  body it could not read. ``_translated_errors`` is the one place they become domain errors,
  worded by ``error_for_status`` so that every provider fails the same way.

``complete`` and ``stream`` themselves are written once, here. Retries and the circuit breaker
live in ``resilience``; adapters switch their SDK's own retries off so the two never multiply.
"""

from __future__ import annotations

import email.utils
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, TypeVar

from src.domain.capabilities import require_supported
from src.domain.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderNotConfigured,
    ProviderOverloaded,
    ProviderRateLimited,
    ProviderRejectedRequest,
    ProviderServerError,
    ProviderTimeout,
)
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    FinishReason,
    ProviderSpec,
    StreamEvent,
    close_stream,
)
from src.infrastructure.llm_providers.assembly import (
    EMPTY_REPLY,
    StreamAssembly,
    finish_reason,
    with_call_reason,
)

DEFAULT_MAX_OUTPUT_TOKENS = 4096
# Upstream error text is quoted to clients; long bodies are cut to this many characters.
MAX_UPSTREAM_MESSAGE = 300

#: What reading a body of the wrong shape raises (besides the SDK's own errors).
SHAPE_ERRORS: Final = (ValueError, AttributeError, TypeError, KeyError, IndexError)

ResponseT = TypeVar("ResponseT")
ChunkT = TypeVar("ChunkT")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Settings one adapter is built with; read once by the composition root.

    ``masked_secrets`` are every configured key (of any provider), masked out of upstream text
    besides this adapter's own ``api_key``.
    """

    api_key: str | None
    base_url: str | None = None
    timeout_s: float = 60.0
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    masked_secrets: tuple[str, ...] = ()


#: What an API key or token looks like, wherever it appears in upstream text: OpenAI-style
#: ``sk-...`` (Anthropic ``sk-ant-...``, DeepSeek, Moonshot), xAI ``xai-...``, Google
#: ``AIza...``, a bearer token, and long hex or base64 runs mixing letters and digits.
_KEY_SHAPES: Final = re.compile(
    r"(?:sk|xai|pk|rk)-[A-Za-z0-9_\-]{8,}"
    r"|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"
    r"|\b[0-9a-fA-F]{32,}\b"
    r"|(?=[A-Za-z0-9+/_\-]*[0-9])(?=[A-Za-z0-9+/_\-]*[A-Za-z])[A-Za-z0-9+/_\-]{32,}=*"
)
MASK = "***"


def masked(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` and anything shaped like a key replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _KEY_SHAPES.sub(MASK, text)


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """What an SDK exception says of an upstream HTTP error, for ``error_for_status``."""

    status: int
    message: str
    headers: Mapping[str, str]


class ProviderAdapter(ABC, Generic[ResponseT, ChunkT]):
    """Base of the adapters: the call template, the spec and config, the domain errors.

    Each subclass builds one long-lived SDK client in its constructor and closes it in
    ``aclose``. A key is required unless the spec names no key variable (a local runtime);
    without one the SDKs would fall back to reading the process environment themselves.
    """

    #: The provider's own finish reasons that differ from the domain's (OpenAI's) names.
    FINISH_REASONS: ClassVar[Mapping[str, FinishReason]] = {}
    #: The OpenAI option names (``ProviderSpec.options``) that the SDK calls otherwise.
    OPTION_NAMES: ClassVar[Mapping[str, str]] = {}
    TIMEOUT_ERRORS: ClassVar[tuple[type[BaseException], ...]] = ()
    CONNECTION_ERRORS: ClassVar[tuple[type[BaseException], ...]] = ()
    #: Bodies that do not parse or have the wrong shape. ``ValueError`` covers JSON and
    #: pydantic validation errors, which every SDK lets escape; the others are how a body of
    #: the wrong shape surfaces where it is read, since several SDKs build their response
    #: models without validating them (``construct``).
    UNREADABLE_ERRORS: ClassVar[tuple[type[BaseException], ...]] = SHAPE_ERRORS

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

    # -- the template ----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResult:
        require_supported(self._spec, request)
        params = self._params(request)
        with self._translated_errors():
            response = await self._send(params)
            result = self._result(request, response)
        if not (result.text or result.tool_calls):
            raise self.unreadable(EMPTY_REPLY)
        return with_call_reason(result)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        require_supported(self._spec, request)
        reply = self._assembly(request)
        params = self._params(request)
        with self._translated_errors():
            async with await self._open_stream(params) as chunks:
                async for chunk in chunks:
                    for event in self._read_chunk(reply, chunk):
                        yield event
        for ready in reply.calls_done():
            yield ready
        yield reply.end()

    @abstractmethod
    async def aclose(self) -> None:
        """Closes the SDK client's connection pool."""

    # -- hooks -----------------------------------------------------------------------------

    @abstractmethod
    def _params(self, request: ChatRequest) -> dict[str, Any]:
        """The SDK call's arguments, the same for a whole and a streamed call."""

    @abstractmethod
    async def _send(self, params: dict[str, Any]) -> ResponseT:
        """The whole call."""

    @abstractmethod
    async def _open_stream(
        self, params: dict[str, Any]
    ) -> AbstractAsyncContextManager[AsyncIterator[ChunkT]]:
        """The streamed call, opened: leaving the context releases the response."""

    @abstractmethod
    def _result(self, request: ChatRequest, response: ResponseT) -> ChatResult: ...

    @abstractmethod
    def _read_chunk(self, reply: StreamAssembly, chunk: ChunkT) -> Iterable[StreamEvent]:
        """Adds one chunk to ``reply``; the events to forward now."""

    @abstractmethod
    def _upstream_status(self, error: Exception) -> UpstreamStatus | None:
        """The upstream HTTP error an SDK exception reports, if it reports one."""

    def _assembly(self, request: ChatRequest) -> StreamAssembly:
        return StreamAssembly(self.name, request, self.FINISH_REASONS)

    # -- helpers for the hooks -------------------------------------------------------------

    def options(self, request: ChatRequest) -> dict[str, Any]:
        """The request's options under the SDK's names (``OPTION_NAMES``); the spec's
        ``options`` were checked before, so every one is one the adapter maps."""
        return {self.OPTION_NAMES.get(k, k): v for k, v in request.options.items()}

    def output_ceiling(self, request: ChatRequest) -> int:
        """The request's ``max_tokens``, else the configured ceiling, for APIs that need one."""
        return request.max_tokens or self._config.max_output_tokens

    def finish_reason(self, native: str | None) -> FinishReason | None:
        return finish_reason(native, self.FINISH_REASONS)

    # -- domain errors, worded the same for every provider ----------------------------------

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        """The one place SDK and transport exceptions become domain errors."""
        try:
            yield
        except ProviderError:
            raise
        except Exception as error:
            if (upstream := self._upstream_status(error)) is not None:
                raise self.error_for_status(
                    upstream.status, upstream.message, upstream.headers
                ) from error
            if isinstance(error, self.TIMEOUT_ERRORS) and not connection_failed(error):
                raise self.timed_out() from error
            if isinstance(error, self.CONNECTION_ERRORS):
                raise self.unreachable() from error
            if isinstance(error, self.UNREADABLE_ERRORS):
                raise self.unreadable() from error
            raise

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

        ``message`` is the provider's own text: keys are masked out of it (some providers echo
        them back) and it is cut short, since it reaches clients and logs.
        """
        name = self.name
        secrets = (self._config.api_key, *self._config.masked_secrets)
        message = masked(message, secrets)[:MAX_UPSTREAM_MESSAGE]
        retry_after = retry_after_seconds(headers or {})
        if status in (401, 403):
            return ProviderAuthError(name, self._spec.key_variable or "its API key", status)
        if status == 429:
            return ProviderRateLimited(
                name, f"{name} is rate limiting requests", status=status, retry_after=retry_after
            )
        if status == 503:
            return ProviderOverloaded(
                name, f"{name} is unavailable: {message}", status=status, retry_after=retry_after
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


def connection_failed(error: BaseException) -> bool:
    """True when an SDK's time-out error is in fact a connection that failed without one.

    The aiohttp transport that the openai and anthropic SDKs ship (``_vendor/httpx_aiohttp``)
    maps every ``aiohttp.ClientConnectionError`` to httpx's ``ConnectTimeout``: its exception
    table matches that base class before ``ClientConnectorError``, so a refused connection or
    a server that hung up reads as a time-out. The error's causes say what happened: an
    aiohttp error that is not a ``TimeoutError`` is a connection failure.
    """
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return False
        if type(cause).__module__.startswith("aiohttp."):
            return True
        cause = cause.__cause__
    return False


@asynccontextmanager
async def released(chunks: AsyncIterator[ChunkT]) -> AsyncIterator[AsyncIterator[ChunkT]]:
    """An SDK stream that is a bare async iterator, as ``_open_stream`` hands it back: closed
    when the block is left, so an abandoned stream releases its response now, not at GC."""
    try:
        yield chunks
    finally:
        await close_stream(chunks)


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


def extra_count(extras: Mapping[str, object], group: str, field: str) -> int:
    """A token count the SDK does not declare (``usage.<group>.<field>``, a pydantic extra).

    Absent, malformed or negative counts are 0: usage is accounted, never refused.
    """
    details = extras.get(group)
    return positive_count(details.get(field)) if isinstance(details, Mapping) else 0


def positive_count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0
