"""The practitioners plugin's hook implementations: its API, its tables, and the
``practitioner_ratings`` hook it publishes for the directory (docs/practitioners.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from platform_core import hookimpl
from plugins.practitioners import hookspecs
from plugins.practitioners import schema as _schema  # noqa: F401  (the tables join Base)
from plugins.practitioners.api import make_blueprint

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"


@hookimpl
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl
def register_blueprints() -> list[Any]:
    return [make_blueprint()]


@hookimpl
def register_migrations() -> list[str]:
    return [str(MIGRATIONS)]
