"""The FHIR shapes the scheduling plugin writes: Schedule, Slot and Appointment pieces, and
reading the references back out of an Appointment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from platform_core.fhir.instants import format_instant

SERVICE_SYSTEM = "https://fireside.health/fhir/CodeSystem/service"
MODE_URL = "https://fireside.health/fhir/StructureDefinition/consultation-mode"
VIDEO_ROOM_URL = "https://fireside.health/fhir/StructureDefinition/video-room"
RULE_IDENTIFIER_SYSTEM = "https://fireside.health/fhir/sid/availability-rule"


def service_type(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": SERVICE_SYSTEM, "code": code, "display": display}]}]


def schedule(
    rule_id: str,
    practitioner_id: str,
    location_id: str | None,
    code: str,
    display: str,
    *,
    active: bool = True,
) -> dict[str, Any]:
    """The Schedule that one availability rule's slots belong to."""
    actors = [{"reference": f"Practitioner/{practitioner_id}"}]
    if location_id:
        actors.append({"reference": f"Location/{location_id}"})
    return {
        "resourceType": "Schedule",
        "identifier": [{"system": RULE_IDENTIFIER_SYSTEM, "value": rule_id}],
        "active": active,
        "serviceType": service_type(code, display),
        "actor": actors,
    }


def slot(
    schedule_id: str, start: datetime, end: datetime, code: str, display: str, status: str
) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "schedule": {"reference": f"Schedule/{schedule_id}"},
        "status": status,
        "start": format_instant(start),
        "end": format_instant(end),
        "serviceType": service_type(code, display),
    }


def participants(appointment: dict[str, Any]) -> tuple[str | None, str | None]:
    """The Patient id and the Practitioner id an Appointment names."""
    patient = practitioner = None
    for participant in appointment.get("participant", []):
        ref = (participant.get("actor") or {}).get("reference", "")
        kind, _, rid = ref.partition("/")
        if kind == "Patient" and patient is None:
            patient = rid
        elif kind == "Practitioner" and practitioner is None:
            practitioner = rid
    return patient, practitioner


def slot_ids(appointment: dict[str, Any]) -> list[str]:
    """The ids of the Slots an Appointment references."""
    ids = []
    for ref in appointment.get("slot", []):
        kind, _, rid = (ref.get("reference") or "").partition("/")
        if kind == "Slot" and rid:
            ids.append(rid)
    return ids


def extension_value(resource: dict[str, Any], url: str, key: str) -> Any:
    for ext in resource.get("extension", []):
        if ext.get("url") == url:
            return ext.get(key)
    return None


def set_extension(resource: dict[str, Any], url: str, key: str, value: Any) -> None:
    """Put (or replace) a simple extension."""
    extensions = [e for e in resource.get("extension", []) if e.get("url") != url]
    extensions.append({"url": url, key: value})
    resource["extension"] = extensions
