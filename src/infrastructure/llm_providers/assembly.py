"""A streamed reply built as its chunks arrive, and the finish reasons every adapter reports.

Every adapter ends a stream the same way: text pieces are forwarded at once; tool calls are
assembled from whatever fragments the provider streams (OpenAI-family argument pieces by
index, Anthropic ``input_json_delta`` by content block, whole Gemini parts) and forwarded as
one ``ToolCallReady`` each once complete; the last event holds the whole reply and every call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Final, cast, get_args

from src.domain.errors import ProviderConnectionError, ProviderServerError
from src.domain.llm import (
    ChatRequest,
    ChatResult,
    FinishReason,
    StreamEnd,
    TextDelta,
    TokenUsage,
    ToolCall,
    ToolCallReady,
)
from src.domain.tokens import estimated_usage

#: An answer with neither text nor a tool call is a failed call, never a reply to store.
EMPTY_REPLY = "an empty reply"
#: The finish reasons a provider may report; the domain's ``interrupted`` is ours alone.
_PROVIDER_REASONS: Final = frozenset(get_args(FinishReason)) - {"interrupted"}


def finish_reason(native: str | None, table: Mapping[str, FinishReason]) -> FinishReason | None:
    """A provider's finish reason in the domain's words.

    ``table`` holds the provider's own names; a native reason that already is a domain name
    (``stop``, ``length``, ``tool_calls``, ``content_filter``, OpenAI's words) passes as it is,
    and anything else (a pause, an unknown new reason) is ``None``: unknown, never guessed.
    """
    if not native:
        return None
    if native in table:
        return table[native]
    return cast(FinishReason, native) if native in _PROVIDER_REASONS else None


def with_call_reason(result: ChatResult) -> ChatResult:
    """``tool_calls`` as the finish reason of a reply that asks for calls, where the provider
    says only that it stopped (Gemini always does)."""
    if result.tool_calls and result.finish_reason in (None, "stop"):
        return dataclasses.replace(result, finish_reason="tool_calls")
    return result


class StreamAssembly:
    """Builds a streamed reply as its chunks arrive.

    A stream is complete only once the provider said how it ended (``finish``). A body that
    stops before that was cut, and ``end`` refuses to pass its fragment off as the reply.
    """

    def __init__(
        self,
        provider: str,
        request: ChatRequest,
        reasons: Mapping[str, FinishReason] | None = None,
    ) -> None:
        self._provider = provider
        self._request = request
        self._reasons = reasons or {}
        self._text: list[str] = []
        self._reasoning: list[str] = []
        #: Calls still arriving, by the provider's index: [id, name, argument pieces].
        self._pending: dict[int, tuple[str, str, list[str]]] = {}
        self._calls: list[ToolCall] = []
        self.model = request.model
        self.usage: TokenUsage | None = None
        self.finish_reason: FinishReason | None = None
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

    def call_part(
        self, index: int, call_id: str | None, name: str | None, arguments: str | None
    ) -> None:
        """A fragment of the call at ``index``: the first names it, later ones add arguments."""
        known_id, known_name, pieces = self._pending.get(index, ("", "", []))
        self._pending[index] = (known_id or call_id or "", known_name or name or "", pieces)
        if arguments:
            pieces.append(arguments)

    def calls_done(self, before: int | None = None) -> Iterator[ToolCallReady]:
        """The pending calls now complete (those with an index below ``before``, or all)."""
        for index in sorted(self._pending):
            if before is not None and index >= before:
                break
            call_id, name, pieces = self._pending.pop(index)
            call = ToolCall(id=call_id, name=name, arguments="".join(pieces) or "{}")
            self._calls.append(call)
            yield ToolCallReady(call)

    def finish(self, native: str | None) -> None:
        """Marks the stream complete once the provider gave its (native) finish reason."""
        if native:
            self.finish_reason = finish_reason(native, self._reasons)
            self._finished = True

    def end(self) -> StreamEnd:
        if not self._finished:
            raise ProviderConnectionError(
                self._provider, f"{self._provider} closed the stream before its end"
            )
        reply = "".join(self._text)
        if not (reply or self._calls):
            raise ProviderServerError(self._provider, f"{self._provider} sent {EMPTY_REPLY}")
        result = ChatResult(
            text=reply,
            model=self.model,
            usage=self.usage or estimated_usage(self._request, reply),
            finish_reason=self.finish_reason,
            reasoning_content="".join(self._reasoning) or None,
            tool_calls=tuple(self._calls),
        )
        return StreamEnd(with_call_reason(result))
