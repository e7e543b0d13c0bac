"""The notifications plugin's hook implementations (entry point ``notifications``).

Email, SMS and push for every care event (``docs/notifications.md``): its jobs listen to the
events other plugins publish, its API holds each user's preferences and devices and shows
the delivery log, and its tables come from its own Alembic branch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platform_core import hookimpl
from platform_core.jobs.definitions import JobDefinition
from plugins.notifications import schema  # noqa: F401  (the tables join Base.metadata)
from plugins.notifications.api import make_blueprint
from plugins.notifications.jobs import job_definitions

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
