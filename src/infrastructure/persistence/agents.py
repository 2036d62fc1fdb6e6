"""The agent preset repository: rows of ``agent_presets`` to and from ``AgentPreset``.

A preset's settings are one JSON document (``config``), written whole and read whole, so a
setting added later needs no migration; a key absent from an older document reads as unset.
Presets are off a turn's hot path (one read per turn that names one). An insert runs at once
as ``INSERT ... ON CONFLICT DO NOTHING`` (spelled so by SQLite and PostgreSQL alike): a name
already taken in the tenant, even by a create running at the same time, inserts no row and
becomes ``AgentExists`` without a driver error to tell apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from src.domain.agents import AgentPreset, AgentSettings
from src.domain.errors import AgentExists
from src.domain.llm import ToolDefinition
from src.infrastructure.persistence.repositories import Work
from src.infrastructure.persistence.tables import AGENT_PRESETS
from src.infrastructure.persistence.writes import Update

_COLUMNS = AGENT_PRESETS.c
_ONE = (_COLUMNS.tenant == sa.bindparam("tenant"), _COLUMNS.name == sa.bindparam("name"))
_INSERT = (
    postgresql.insert(AGENT_PRESETS)
    .values({c.name: sa.bindparam(c.name, type_=c.type) for c in AGENT_PRESETS.c})
    .on_conflict_do_nothing()
)
_GET = sa.select(AGENT_PRESETS).where(*_ONE)
_LIST = (
    sa.select(AGENT_PRESETS)
    .where(_COLUMNS.tenant == sa.bindparam("tenant"))
    .order_by(_COLUMNS.name)
)
_DELETE = sa.delete(AGENT_PRESETS).where(*_ONE)


class SqlAgentRepository:
    def __init__(self, work: Work) -> None:
        self._work = work

    async def add(self, preset: AgentPreset) -> None:
        row = {
            "tenant": preset.tenant,
            "name": preset.name,
            "config": _config(preset.settings),
            "created_at": preset.created_at,
            "updated_at": preset.updated_at,
        }
        if await self._work.execute(_INSERT, row) == 0:
            raise AgentExists(preset.name)

    async def get(self, tenant: str, name: str) -> AgentPreset | None:
        rows = await self._work.rows(_GET, {"tenant": tenant, "name": name})
        return _preset(rows[0]) if rows else None

    async def list(self, tenant: str) -> Sequence[AgentPreset]:
        return [_preset(row) for row in await self._work.rows(_LIST, {"tenant": tenant})]

    async def update(self, preset: AgentPreset) -> None:
        key = {"tenant": preset.tenant, "name": preset.name}
        values = {"config": _config(preset.settings), "updated_at": preset.updated_at}
        self._work.queue(Update(AGENT_PRESETS, key, values))

    async def delete(self, tenant: str, name: str) -> bool:
        return await self._work.execute(_DELETE, {"tenant": tenant, "name": name}) > 0


def _config(settings: AgentSettings) -> dict[str, Any]:
    """The JSON document of a preset's settings (tools as ``ToolDefinition`` fields)."""
    return dataclasses.asdict(settings)


def _settings(config: dict[str, Any]) -> AgentSettings:
    known = {f.name for f in dataclasses.fields(AgentSettings)}
    values = {k: v for k, v in config.items() if k in known}
    if values.get("tools") is not None:
        values["tools"] = tuple(ToolDefinition(**tool) for tool in values["tools"])
    if values.get("fallbacks") is not None:
        values["fallbacks"] = tuple(values["fallbacks"])
    return AgentSettings(**values)


def _preset(row: dict[str, Any]) -> AgentPreset:
    return AgentPreset(
        tenant=row["tenant"],
        name=row["name"],
        settings=_settings(row["config"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
