"""Request bodies decoded as JSON (RFC 8259) defines them: no ``NaN``, no ``Infinity``.

Python's decoder accepts ``NaN``, ``Infinity`` and ``-Infinity``, and reads a number too large
for a double (``1e400``) as infinity, none of which JSON can carry onwards: a provider would
be sent a body its encoder refuses or rewrites (orjson writes ``null``), and PostgreSQL's JSON
columns refuse them. They are refused here instead, as a body that is not valid JSON (422
``validation_error``; 400 in ``/v1``'s OpenAI shape), on every route that reads one
(``JsonRoute``), and as an ``invalid_request`` frame on the WebSocket (``loads``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class _NotFinite(ValueError):
    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


def _refuse(number: str) -> float:
    raise _NotFinite(number)


def _finite(number: str) -> float:
    value = float(number)
    return value if math.isfinite(value) else _refuse(number)


#: One decoder for every body: ``json.loads`` with these hooks would build one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse, parse_float=_finite)


def loads(document: str | bytes) -> Any:
    """``json.loads`` that raises ``json.JSONDecodeError`` on a non-finite number."""
    if isinstance(document, bytes):  # as json.loads reads bytes: UTF-8, -16 or -32
        document = document.decode(json.detect_encoding(document), "surrogatepass")
    try:
        return _DECODER.decode(document)
    except _NotFinite as error:
        number = error.number
        shown = number if len(number) <= 24 else f"{number[:24]}..."
        message = f"{shown} is not a finite number"
        raise json.JSONDecodeError(message, document, document.find(number)) from None


class JsonRequest(Request):
    """A request whose ``json()`` is :func:`loads`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """An ``APIRoute`` whose body is decoded by :func:`loads` (FastAPI's own extension point
    for the request class), so that its errors are FastAPI's ``json_invalid``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def decoded_strictly(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return decoded_strictly
