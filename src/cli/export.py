"""A session's full history as JSON or CSV, for ``orchestrator sessions export``."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from enum import StrEnum
from typing import Any

from src.cli.client import ServiceClient, session_path

# The most the history endpoint serves per page.
_PAGE = 500

CSV_COLUMNS = (
    "index",
    "id",
    "role",
    "content",
    "timestamp",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cost",
)


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"


def full_history(api: ServiceClient, session_id: str) -> list[dict[str, Any]]:
    """Every stored message, oldest first, following the pages until ``has_more`` is false."""
    messages: list[dict[str, Any]] = []
    while True:
        page = api.get(session_path(session_id, "history"), limit=_PAGE, offset=len(messages))
        messages.extend(page["messages"])
        if not page["has_more"] or not page["messages"]:
            return messages


def render(fmt: ExportFormat, session: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    if fmt is ExportFormat.json:
        return json.dumps({"session": session, "messages": messages}, indent=2, ensure_ascii=False)
    return _csv(messages)


def _csv(messages: list[dict[str, Any]]) -> str:
    """One row per message; numbers and provider fields are empty on user messages."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for index, message in enumerate(messages, start=1):
        writer.writerow(
            [index, *(_cell(column, message.get(column)) for column in CSV_COLUMNS[1:])]
        )
    return out.getvalue()


def _cell(column: str, value: Any) -> str:
    """Costs in plain decimals (0.0000315, not JSON's 3.15e-05), so every spreadsheet reads
    them; an unknown cost stays empty, never 0."""
    if value is None:
        return ""
    if column == "cost":
        return format(Decimal(str(value)), "f")
    return str(value)
