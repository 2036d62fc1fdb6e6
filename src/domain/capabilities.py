"""Whether a provider can honour a request, decided before any call.

A provider's ``ProviderSpec`` declares what it takes beyond plain chat, as ``capabilities``:

- ``tools``: function definitions (and so assistant tool calls and tool results);
- ``tool_choice``: a ``tool_choice`` other than ``auto`` (``none``, ``required``, one tool);
- ``json_object`` and ``json_schema``: the two kinds of ``response_format``;
- ``vision``: image parts in messages;

and as ``options`` the further OpenAI-named parameters it maps (``stop``, ``seed``...). A request
asking for anything else is refused with ``InvalidInput`` naming the field, never sent with the
field silently dropped.
"""

from __future__ import annotations

from src.domain.errors import InvalidInput
from src.domain.llm import ChatRequest, ProviderSpec


def require_supported(
    spec: ProviderSpec, request: ChatRequest, image_field: str | None = None
) -> None:
    """Raises ``InvalidInput`` naming the first field of ``request`` that ``spec`` cannot honour.

    Options are named as the caller names them (``stop``); images by the message that carries
    them, or by ``image_field`` where the caller sent them in a field of its own.
    """
    can = set(spec.capabilities)
    if request.tools and "tools" not in can:
        _refuse(spec, "tools", "cannot call tools")
    if request.tool_choice not in (None, "auto") and "tool_choice" not in can:
        _refuse(spec, "tool_choice", "takes no tool_choice but 'auto'")
    if request.response_format and request.response_format.type not in can:
        kind = request.response_format.type
        _refuse(spec, "response_format", f"cannot answer in response_format {kind!r}")
    for name in sorted(set(request.options) - spec.options):
        _refuse(spec, name, f"does not support the option {name!r}")
    if "vision" not in can:
        for index, message in enumerate(request.messages):
            if message.images:
                _refuse(spec, image_field or f"messages[{index}].content", "cannot read images")


def _refuse(spec: ProviderSpec, field: str, what: str) -> None:
    raise InvalidInput(
        f"{spec.name} {what} ({field})",
        details={"field": field, "provider": spec.name},
    )
