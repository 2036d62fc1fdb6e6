"""Offline token estimates, for when a provider reports none and for the summary threshold.

No tokenizer file can be downloaded at run time, so this is the common rule of thumb of about
four characters per token. It is only ever used where an estimate is acceptable, and every
use is flagged (``usage_estimated``) or corrected by the next provider-reported count.
"""

from __future__ import annotations

from collections.abc import Iterable

from src.domain.llm import ChatRequest, TokenUsage

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text``: a ceiling of characters / 4 (0 for empty text)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def estimate_many(texts: Iterable[str]) -> int:
    return sum(estimate_tokens(t) for t in texts)


def estimated_usage(request: ChatRequest, reply: str) -> TokenUsage:
    """Usage of a call whose provider reported none (or that was cut short), flagged estimated."""
    return TokenUsage(
        input_tokens=estimate_many(m.content for m in request.messages),
        output_tokens=estimate_tokens(reply),
        estimated=True,
    )
