"""The prescriptions plugin's hook implementations (entry point ``prescriptions``).

Two things: the JSON API under ``/api/prescriptions`` (:mod:`plugins.prescriptions.api`)
and the rules every MedicationRequest write must follow, whoever writes it
(:mod:`plugins.prescriptions.rules`). The plugin owns no tables: prescriptions are FHIR
MedicationRequests, allergy alerts FHIR DetectedIssues. See docs/prescriptions.md.

The rules read accounts and care links through the write's own transaction
(``PendingWrite.conn``), so an Appointment earlier in the same transaction Bundle counts.
"""

from __future__ import annotations

from typing import Any

from platform_core import hookimpl
from platform_core.plugin_api import PendingWrite
from plugins.prescriptions.api import make_blueprint
from plugins.prescriptions.rules import check_write


@hookimpl
def fhir_resource_before_write(write: PendingWrite) -> None:
    """Refuse a user's MedicationRequest write that breaks the prescribing rules (403, or
    422 for a subject that is not a Patient); nothing is written then."""
    check_write(write, write.core)


@hookimpl
def register_blueprints() -> list[Any]:
    return [make_blueprint()]
