"""Agent presets: named, stored ``agent_config`` settings that a turn can start from.

A tenant stores a preset once (``support-bot``: a provider, a model, a system prompt, tools,
fallbacks) and each turn names it instead of repeating it; whatever the turn gives beside the
name wins, field by field (:meth:`AgentSettings.with_overrides`). Presets are looked up
within one tenant only: two tenants may hold presets of the same name, and neither sees the
other's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING

from src.domain.errors import AgentNotFound
from src.domain.llm import ToolDefinition

if TYPE_CHECKING:  # ports names AgentPreset in its repository port
    from src.domain.ports import Ports


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """How an agent answers. ``None`` means "not set here": the turn's default applies, or,
    as overrides, the preset's value stays. An empty ``tools`` or ``fallbacks`` is set (none).
    """

    provider: str | None = None
    model: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: tuple[ToolDefinition, ...] | None = None
    fallbacks: tuple[str, ...] | None = None  # targets as written: ``provider[:model]``

    def with_overrides(self, overrides: AgentSettings) -> AgentSettings:
        """These settings with every field that ``overrides`` sets put in place of ours.

        Provider and model are one target: overriding either replaces both, since a model
        belongs to its provider (a model alone is then routed as in any turn, by the
        providers' model lists).
        """
        given = {
            f.name: value
            for f in fields(overrides)
            if (value := getattr(overrides, f.name)) is not None
        }
        if "provider" in given or "model" in given:
            given.setdefault("provider", None)
            given.setdefault("model", None)
        return replace(self, **given)


@dataclass(frozen=True, slots=True)
class AgentPreset:
    tenant: str
    name: str
    settings: AgentSettings
    created_at: datetime
    updated_at: datetime


class AgentBook:
    """Create, read, list, replace and delete a tenant's presets; each in its own transaction."""

    def __init__(self, ports: Ports) -> None:
        self._uow = ports.uow
        self._clock = ports.clock

    async def create(self, tenant: str, name: str, settings: AgentSettings) -> AgentPreset:
        """Raises ``AgentExists`` when the tenant already has a preset of that name."""
        now = self._clock.now()
        preset = AgentPreset(tenant, name, settings, created_at=now, updated_at=now)
        async with self._uow() as uow:
            await uow.agents.add(preset)
            await uow.commit()
        return preset

    async def get(self, tenant: str, name: str) -> AgentPreset:
        async with self._uow() as uow:
            preset = await uow.agents.get(tenant, name)
        if preset is None:
            raise AgentNotFound(name)
        return preset

    async def list(self, tenant: str) -> Sequence[AgentPreset]:
        """By name."""
        async with self._uow() as uow:
            return await uow.agents.list(tenant)

    async def replace(self, tenant: str, name: str, settings: AgentSettings) -> AgentPreset:
        """Every setting replaced (none kept from before); only ``created_at`` stays."""
        async with self._uow() as uow:
            found = await uow.agents.get(tenant, name)
            if found is None:
                raise AgentNotFound(name)
            preset = replace(found, settings=settings, updated_at=self._clock.now())
            await uow.agents.update(preset)
            await uow.commit()
        return preset

    async def delete(self, tenant: str, name: str) -> None:
        async with self._uow() as uow:
            deleted = await uow.agents.delete(tenant, name)
            await uow.commit()
        if not deleted:
            raise AgentNotFound(name)

    async def settings_of(self, tenant: str, name: str | None) -> AgentSettings:
        """The settings a turn starts from: the named preset's, or none set without a name.

        Raises ``AgentNotFound`` before any provider is called.
        """
        if name is None:
            return AgentSettings()
        return (await self.get(tenant, name)).settings
