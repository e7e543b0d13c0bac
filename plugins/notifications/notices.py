"""What each care event means for people: the :class:`~plugins.notifications.fanout.Notice`
an event's payload becomes (who is told, what the message needs to say).

Names come from the FHIR resources (the Patient, the Practitioner); a resource that cannot
be read leaves its name empty rather than holding the message up. Payloads follow the event
catalog of ``docs/care_workflows.md``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy.engine import Connection

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import format_instant
from platform_core.identity.care import guardians_and_self, practitioner_user_id
from plugins.notifications.catalog import (
    ACCOUNT_EVENTS,
    APPOINTMENT_EVENTS,
    APPOINTMENT_REMINDER,
    INVOICE_ISSUED,
    PRACTITIONER_TOLD,
    PRESCRIPTION_ISSUED,
)
from plugins.notifications.fanout import Notice, Recipient
from plugins.notifications.rendering import human_name, parse_instant

log = logging.getLogger(__name__)

VIDEO_ROOM = "https://fireside.health/fhir/StructureDefinition/video-room"


def read_resource(core: Any, conn: Connection, rtype: str, rid: Any) -> dict[str, Any] | None:
    """A resource's current content, or None (no id, unknown, deleted)."""
    if not isinstance(rid, str) or not rid:
        return None
    try:
        return core.repository.read(RequestContext.system(), rtype, rid, conn=conn).resource()
    except FhirError as exc:
        log.info("%s/%s cannot be read for a notification (%s)", rtype, rid, exc.status)
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def instant_key(value: Any) -> str:
    """An instant as it goes into keys: UTC, so ``+01:00`` and ``Z`` spellings agree."""
    parsed = parse_instant(value)
    return format_instant(parsed) if parsed is not None else str(value or "")


def _digest(value: Any) -> str:
    return hashlib.sha256(str(value or "").encode()).hexdigest()[:12]


def patient_side(conn: Connection, patient_id: Any) -> list[Recipient]:
    """The patient's own account and their guardians'."""
    if not isinstance(patient_id, str) or not patient_id:
        return []
    return [Recipient(u, "patient") for u in guardians_and_self(conn, patient_id)]


def practitioner_side(conn: Connection, practitioner_id: Any) -> list[Recipient]:
    """The practitioner's own account, if they have one."""
    if not isinstance(practitioner_id, str) or not practitioner_id:
        return []
    user_id = practitioner_user_id(conn, practitioner_id)
    return [Recipient(user_id, "practitioner")] if user_id else []


def _video_url(appointment: dict[str, Any] | None) -> str | None:
    for extension in (appointment or {}).get("extension", []):
        if extension.get("url") == VIDEO_ROOM and extension.get("valueUrl"):
            return str(extension["valueUrl"])
    return None


def appointment_facts(core: Any, conn: Connection, payload: dict[str, Any]) -> dict[str, Any]:
    """Template values of an appointment event (or a reminder, which carries the same)."""
    patient = read_resource(core, conn, "Patient", payload.get("patient"))
    practitioner = read_resource(core, conn, "Practitioner", payload.get("practitioner"))
    appointment = None
    if payload.get("mode") == "video":
        appointment = read_resource(core, conn, "Appointment", payload.get("appointment"))
    return {
        "patient_name": human_name(patient),
        "practitioner_name": human_name(practitioner),
        "service": _text(payload.get("service_display")),
        "mode": payload.get("mode") if payload.get("mode") in ("video", "in-person") else None,
        "video_url": _video_url(appointment),
        "start": parse_instant(payload.get("start")),
        "previous_start": parse_instant(payload.get("previous_start")),
        "price": payload.get("price"),
        "reason": _text(payload.get("reason")),
        "base_url": core.settings.base_url,
    }


def notice_for_event(core: Any, conn: Connection, event: str, payload: dict[str, Any]) -> Notice:
    """The notice of a care event (its recipients may be empty: nobody has an account)."""
    base = {"base_url": core.settings.base_url}
    if event in ACCOUNT_EVENTS:
        practitioner = read_resource(core, conn, "Practitioner", payload.get("practitioner"))
        user_id = payload.get("user_id")
        return Notice(
            event,
            f"Practitioner/{payload.get('practitioner')}",
            _digest(payload.get("reason")) if payload.get("reason") else "",
            {
                **base,
                "practitioner_name": human_name(practitioner),
                "reason": _text(payload.get("reason")),
            },
            [Recipient(user_id, "account")] if isinstance(user_id, str) and user_id else [],
        )
    if event in APPOINTMENT_EVENTS:
        recipients = patient_side(conn, payload.get("patient"))
        if event in PRACTITIONER_TOLD:
            recipients += practitioner_side(conn, payload.get("practitioner"))
        return Notice(
            event,
            f"Appointment/{payload.get('appointment')}",
            instant_key(payload.get("start")),
            appointment_facts(core, conn, payload),
            recipients,
        )
    if event == PRESCRIPTION_ISSUED:
        practitioner = read_resource(core, conn, "Practitioner", payload.get("practitioner"))
        patient = read_resource(core, conn, "Patient", payload.get("patient"))
        return Notice(
            event,
            f"MedicationRequest/{payload.get('medication_request')}",
            "",
            {
                **base,
                "patient_name": human_name(patient),
                "practitioner_name": human_name(practitioner),
                "medication": _text(payload.get("medication")),
            },
            patient_side(conn, payload.get("patient")),
        )
    if event == INVOICE_ISSUED:
        patient = read_resource(core, conn, "Patient", payload.get("patient"))
        return Notice(
            event,
            f"Invoice/{payload.get('invoice')}",
            "",
            {
                **base,
                "patient_name": human_name(patient),
                "total": payload.get("total"),
                "invoice": _text(payload.get("invoice")),
            },
            patient_side(conn, payload.get("patient")),
        )
    raise ValueError(f"the notifications plugin does not handle {event!r}")


def reminder_notice(core: Any, conn: Connection, payload: dict[str, Any]) -> Notice:
    """The notice of a due reminder (``payload`` as :func:`reminders.schedule` wrote it)."""
    return Notice(
        APPOINTMENT_REMINDER,
        f"Appointment/{payload.get('appointment')}",
        f"{payload.get('kind')}:{instant_key(payload.get('start'))}",
        {**appointment_facts(core, conn, payload), "reminder": payload.get("kind")},
        patient_side(conn, payload.get("patient"))
        + practitioner_side(conn, payload.get("practitioner")),
    )
