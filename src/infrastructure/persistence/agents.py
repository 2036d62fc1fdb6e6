"""The agent preset repository: rows of ``agent_presets`` to and from ``AgentPreset``.

A preset's settings are one JSON document (``config``), written whole and read whole, so a
setting added later needs no migration; a key absent from an older document reads as unset.
Presets are off a turn's hot path (one read per turn that names one), so every statement is
sent when it is called, and an insert that meets the (tenant, name) key becomes
``AgentExists`` at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from src.domain.agents import AgentPreset, AgentSettings
from src.domain.errors import AgentExists
from src.domain.llm import ToolDefinition
from src.infrastructure.persistence.repositories import SqlWork
from src.infrastructure.persistence.tables import AGENT_PRESETS

_COLUMNS = AGENT_PRESETS.c


def _one(tenant: str, name: str) -> sa.ColumnElement[bool]:
    return sa.and_(_COLUMNS.tenant == tenant, _COLUMNS.name == name)


class SqlAgentRepository:
    def __init__(self, work: SqlWork) -> None:
        self._work = work

    async def add(self, preset: AgentPreset) -> None:
        row = {
            "tenant": preset.tenant,
            "name": preset.name,
            "config": _config(preset.settings),
            "created_at": preset.created_at,
            "updated_at": preset.updated_at,
        }
        try:
            await self._work.execute(sa.insert(AGENT_PRESETS).values(row))
        except IntegrityError as error:  # the only constraint is the (tenant, name) key
            raise AgentExists(preset.name) from error

    async def get(self, tenant: str, name: str) -> AgentPreset | None:
        rows = await self._work.rows(sa.select(AGENT_PRESETS).where(_one(tenant, name)))
        return _preset(rows[0]) if rows else None

    async def list(self, tenant: str) -> Sequence[AgentPreset]:
        statement = (
            sa.select(AGENT_PRESETS).where(_COLUMNS.tenant == tenant).order_by(_COLUMNS.name)
        )
        return [_preset(row) for row in await self._work.rows(statement)]

    async def update(self, preset: AgentPreset) -> None:
        await self._work.execute(
            sa.update(AGENT_PRESETS)
            .where(_one(preset.tenant, preset.name))
            .values(config=_config(preset.settings), updated_at=preset.updated_at)
        )

    async def delete(self, tenant: str, name: str) -> bool:
        result = await self._work.execute(sa.delete(AGENT_PRESETS).where(_one(tenant, name)))
        return cast(sa.CursorResult[Any], result).rowcount > 0


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


def _preset(row: sa.Row[Any]) -> AgentPreset:
    return AgentPreset(
        tenant=row.tenant,
        name=row.name,
        settings=_settings(row.config),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
