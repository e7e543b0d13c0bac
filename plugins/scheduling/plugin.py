"""The scheduling plugin's hook implementations."""

from __future__ import annotations

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


@hookimpl
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


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
