"""Text the service stores: refused at validation when a database could not keep it.

PostgreSQL's ``text`` cannot hold a NUL character, and a lone UTF-16 surrogate (which JSON's
``\\ud800`` escapes can produce) is not a character at all: SQLite would keep it but no
UTF-8 encoder, provider SDK included, can send it. Either used to fail only after the
provider had been called and paid. Every string that reaches storage or a provider goes
through ``storable`` first, so such input is a 422 naming the field, on both databases, before
anything is stored or called.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    found = _UNSTORABLE.search(value)
    if found is None:
        return value
    if found.group() == "\x00":
        raise ValueError("must not contain a NUL character (U+0000)")
    raise ValueError(f"contains an unpaired surrogate (U+{ord(found.group()):04X}), not text")


def storable_json(value: Any) -> Any:
    """``storable`` for every key and string value of a JSON document, however nested."""
    if isinstance(value, str):
        storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable_json(item)
    elif isinstance(value, list):
        for item in value:
            storable_json(item)
    return value


StorableText = Annotated[str, AfterValidator(storable)]
StorableJson = Annotated[dict[str, Any], AfterValidator(storable_json)]
