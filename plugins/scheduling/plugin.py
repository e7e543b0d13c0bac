"""The scheduling plugin's hook implementations."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pluggy

from platform_core import hookimpl
from platform_core.jobs.definitions import JobDefinition
from platform_core.plugin_api import PendingWrite
from plugins.scheduling import hookspecs, writes
from plugins.scheduling.api import bp
from plugins.scheduling.jobs import JOBS

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"
DEFAULT_VIDEO_BASE = "https://meet.fireside.health"


@hookimpl
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)
    if pm.get_plugin("scheduling.defaults") is None:
        pm.register(Defaults(pm), name="scheduling.defaults")


class Defaults:
    """The answers scheduling gives itself when no other plugin does."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.video_base = DEFAULT_VIDEO_BASE

    @hookimpl
    def register_readiness_checks(self, core: Any) -> list[Any]:
        self.video_base = core.settings.extra.get("scheduling_video_base_url", DEFAULT_VIDEO_BASE)
        return []

    @hookimpl(trylast=True)
    def scheduling_video_room(self, appointment_id: str) -> str:
        """An unguessable room per appointment (192 random bits)."""
        return f"{self.video_base.rstrip('/')}/r/{secrets.token_urlsafe(24)}"


@hookimpl
def register_migrations() -> list[str]:
    return [str(MIGRATIONS)]


@hookimpl
def register_blueprints() -> list[Any]:
    return [bp]


@hookimpl
def register_jobs() -> list[JobDefinition]:
    return list(JOBS)


@hookimpl
def fhir_resource_before_write(write: PendingWrite) -> None:
    if write.resource_type in ("Schedule", "Slot", "Appointment") and write.core is not None:
        writes.before_write(write.core, write)
