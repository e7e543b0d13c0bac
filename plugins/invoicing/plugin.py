"""The invoicing plugin's hook implementations: its tables (an Alembic branch of its own),
its job (``invoicing.on_fulfilled``, subscribed to ``appointment.fulfilled``) and its API
(``/api/invoicing``). See docs/invoicing.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platform_core import hookimpl
from platform_core.jobs.definitions import JobDefinition
from plugins.invoicing import schema  # noqa: F401  (declares the tables on the core's Base)
from plugins.invoicing.api import make_blueprint
from plugins.invoicing.jobs import job_definitions

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"


@hookimpl
def register_migrations() -> list[str]:
    return [str(MIGRATIONS)]


@hookimpl
def register_jobs() -> list[JobDefinition]:
    return job_definitions()


@hookimpl
def register_blueprints() -> list[Any]:
    return [make_blueprint()]
