"""The family plugin's hook implementations: the ``/api/family`` blueprint (docs/family.md).

The plugin owns no tables: it writes FHIR resources through the repository and the core's
account links (``auth_user.fhir_user``, ``auth_user_patient``).
"""

from __future__ import annotations

from flask import Blueprint

from platform_core import hookimpl
from plugins.family.api import make_blueprint


@hookimpl
def register_blueprints() -> list[Blueprint]:
    return [make_blueprint()]
