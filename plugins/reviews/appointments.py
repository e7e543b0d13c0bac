"""The reviewed Appointment, read as plain FHIR (docs/care_workflows.md).

The scheduling plugin writes Appointments whose ``participant`` names exactly one Patient
and one Practitioner; this module reads one with the system context (the API decides
afterwards whether the caller may see it) and keeps what a review needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError

FULFILLED = "fulfilled"


@dataclass(frozen=True)
class AppointmentFacts:
    """What a review needs of an Appointment: ids are plain FHIR ids."""

    id: str
    status: str
    patient_id: str | None
    practitioner_id: str | None


def read_appointment(core: Any, appointment_id: str) -> AppointmentFacts | None:
    """The Appointment's facts, or None when it is unknown or deleted."""
    try:
        stored = core.repository.read(RequestContext.system(), "Appointment", appointment_id)
    except FhirError as exc:
        if exc.status in (404, 410):
            return None
        raise
    return facts_of(stored.id, stored.resource())


def facts_of(appointment_id: str, resource: dict[str, Any]) -> AppointmentFacts:
    """The status and the (first) Patient and Practitioner among the participants."""
    return AppointmentFacts(
        appointment_id,
        str(resource.get("status", "")),
        _actor(resource, "Patient"),
        _actor(resource, "Practitioner"),
    )


def _actor(resource: dict[str, Any], resource_type: str) -> str | None:
    """The id of the first participant of ``resource_type`` (relative or absolute
    reference)."""
    for participant in resource.get("participant") or []:
        reference = ((participant or {}).get("actor") or {}).get("reference") or ""
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
            return parts[-1]
    return None
