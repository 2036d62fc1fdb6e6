"""Log lines as JSON objects (``LOG_FORMAT=json``) or readable text, each carrying the id of
the request it belongs to.

The request middleware binds a fresh field set per request (:func:`bind_request`); anything
serving that request adds to it (:func:`annotate_request`: the turn's session, tenant,
provider, model, tokens and cost) and every log line written meanwhile carries the request
id, through a ``contextvars.ContextVar`` that follows the request into its tasks. The fields
are a mutable mapping bound once, so what a streamed response's task adds is seen by the
middleware's access line at the end.

Lines never carry message content, credentials or provider keys: callers log ids, names and
figures only, and an exception is logged by its type, never with a traceback.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import IO, Any, Literal

LogFormat = Literal["json", "text"]

_request_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "orchestrator_request_fields", default=None
)
#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def bind_request(request_id: str) -> contextvars.Token[dict[str, Any] | None]:
    """Starts the field set of one request; pair with :func:`unbind_request`."""
    return _request_fields.set({"request_id": request_id})


def unbind_request(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _request_fields.reset(token)


def annotate_request(**fields: Any) -> None:
    """Adds fields to the current request's access line (nothing outside a request)."""
    bound = _request_fields.get()
    if bound is not None:
        bound.update({k: v for k, v in fields.items() if v is not None})


def request_fields() -> dict[str, Any]:
    return dict(_request_fields.get() or {})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    bound = _request_fields.get()
    if bound is not None and "request_id" not in extra:
        extra["request_id"] = bound["request_id"]
    if record.exc_info and record.exc_info[0] is not None:
        extra["error_type"] = record.exc_info[0].__name__
    return extra


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...`` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        pairs = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        text = f"{moment} {record.levelname} {record.name} {record.getMessage()}"
        return f"{text} {pairs}" if pairs else text


def configure_logging(log_format: LogFormat, level: str, stream: IO[str] | None = None) -> None:
    """One handler on the root logger (on stderr unless ``stream``); uvicorn's loggers write
    through it too."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
