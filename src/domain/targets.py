"""How a request names the model that answers it, read in one place.

A target is written ``provider:model``, ``provider/model``, a provider name alone, or a bare
model name. ``parse_target`` only reads the text; which provider serves a bare model name is
the provider directory's ``resolve``, which knows the providers' model lists and prices.
"""

from __future__ import annotations

from collections.abc import Collection

#: Separators between a provider and its model, in the order they are looked for.
_SEPARATORS = (":", "/")


def parse_target(text: str, providers: Collection[str]) -> tuple[str | None, str | None]:
    """``(provider, model)`` named by ``text``; ``None`` where it names none.

    ``providers`` are the provider names: a prefix before the first ``:`` or ``/`` is a
    provider only when it is one of them, since model names carry both characters
    (``llama3.2:latest``, ``meta-llama/Llama-3.3-70B``). Anything else is a bare model name.
    """
    text = text.strip()
    if text in providers:
        return text, None
    for separator in _SEPARATORS:
        prefix, found, rest = text.partition(separator)
        if found and prefix.strip() in providers:
            return prefix.strip(), rest.strip() or None
    return None, text or None
