"""Booking, cancelling, rescheduling and completing appointments for the JSON API.

Each function is one transaction. The slot claims themselves happen in the Appointment
write (see :mod:`plugins.scheduling.claims`), so the API and FHIR REST follow one rule; this
module adds what the API promises on top: the payment hold, the video room, and who may
change what.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from platform_core.db.prepared import prepared
from platform_core.fhir import error_codes
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.fhir.repository import new_id
from platform_core.plugin_api import RejectWrite
from platform_core.web.api import Problem
from plugins.scheduling import claims, fhir, policy
from plugins.scheduling.hookspecs import BookingRequest
from plugins.scheduling.schema import RuleRow, SlotRow

SLOTS, RULES = SlotRow.__table__, RuleRow.__table__
DEFAULT_VIDEO_BASE = "https://meet.fireside.health"
STAFF_STATUSES = frozenset({"arrived", "fulfilled", "noshow"})
_BOOKABLE = prepared(
    sa.select(
        SLOTS,
        RULES.c.modes,
        RULES.c.service_code,
        RULES.c.service_display,
        RULES.c.price_amount,
        RULES.c.price_currency,
    )
    .join(RULES, RULES.c.id == SLOTS.c.rule_id)
    .where(SLOTS.c.slot_id == sa.bindparam("slot")),
    generic=False,
)
"""A slot with what its rule offers (built once, prepared: the booking's first query, a key
lookup)."""


@dataclass(frozen=True)
class Actor:
    """Who asks, as the booking rules need it."""

    reference: str
    """``Patient/1``, ``Practitioner/2``, a user or client id: recorded as the writer."""
    role: str | None
    """The user's role; None for a backend service or an internal caller."""

    @property
    def ctx(self) -> RequestContext:
        return RequestContext.system(self.reference)


def _rejected(exc: RejectWrite) -> Problem:
    return Problem(exc.status, exc.message, title=None)


def _taken(slot_id: str) -> FhirError:
    """The 409 a losing claim answers (see :func:`claims.taken`), as the repository words
    a refused write."""
    refusal = claims.taken(slot_id)
    return FhirError.of(
        refusal.status, error_codes.PLUGIN_REJECTED, refusal.message, refusal.expression
    )


def book(
    core: Any, actor: Actor, *, slot_id: str, patient_id: str, mode: str, reason: str | None
) -> dict[str, Any]:
    """Book ``slot_id`` for the patient: an Appointment ``booked`` (or ``pending`` while a
    payments plugin waits for payment) and the slot busy (or held)."""
    appointment_id = new_id()
    with core.repository.transaction() as conn:
        found = conn.execute(_BOOKABLE, {"slot": slot_id}).first()
        if found is None:
            raise Problem(404, f"Slot/{slot_id} is not a bookable slot")
        if found.status != "free":
            # The claim in the Appointment write decides races; a slot already taken can be
            # refused before any of that work (the same answer the claim would give).
            raise _taken(slot_id)
        if mode not in found.modes.split(","):
            raise Problem(
                422, f"This slot is offered {found.modes.replace(',', ' or ')}, not {mode}"
            )
        core.repository.read(RequestContext.system(), "Patient", patient_id, conn=conn)
        request = BookingRequest(
            appointment_id=appointment_id,
            patient_id=patient_id,
            practitioner_id=found.practitioner_id,
            service_code=found.service_code,
            start=format_instant(found.start),
            price_amount=found.price_amount,
            price_currency=found.price_currency,
        )
        window = core.plugins.hook.scheduling_payment_required(booking=request)
        resource: dict[str, Any] = {
            "resourceType": "Appointment",
            "status": "pending" if window else "booked",
            "serviceType": fhir.service_type(found.service_code, found.service_display),
            "start": format_instant(found.start),
            "end": format_instant(found.end),
            "created": format_instant(now_utc())[:10],
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
                {
                    "actor": {"reference": f"Practitioner/{found.practitioner_id}"},
                    "status": "accepted",
                },
            ],
        }
        if reason:
            resource["description"] = reason
        fhir.set_extension(resource, fhir.MODE_URL, "valueCode", mode)
        if mode == "video":
            room = core.plugins.hook.scheduling_video_room(
                appointment_id=appointment_id
            ) or default_video_room(core)
            fhir.set_extension(resource, fhir.VIDEO_ROOM_URL, "valueUrl", room)
        core.repository.create(actor.ctx, conn, resource, resource_id=appointment_id)
        hold_until = None
        if window:
            hold_until = now_utc() + timedelta(seconds=int(window))
            conn.execute(
                sa.update(SLOTS)
                .where(SLOTS.c.slot_id == slot_id)
                .values(hold_expires_at=hold_until)
            )
            core.jobs.enqueue(
                conn,
                "scheduling.expire_holds",
                {"appointment": appointment_id},
                delay_s=float(window) + 1,
            )
    return summary(appointment_id, resource, hold_until)


def default_video_room(core: Any) -> str:
    """A room of its own per appointment (192 random bits) under
    ``scheduling_video_base_url``, when no plugin supplies one."""
    base = core.settings.extra.get("scheduling_video_base_url", DEFAULT_VIDEO_BASE)
    return f"{str(base).rstrip('/')}/r/{secrets.token_urlsafe(24)}"


def summary(appointment_id: str, resource: dict[str, Any], hold_until: Any = None) -> dict:
    """The API form of an Appointment."""
    patient, practitioner = fhir.participants(resource)
    coding = ((resource.get("serviceType") or [{}])[0].get("coding") or [{}])[0]
    return {
        "appointment": appointment_id,
        "status": resource.get("status"),
        "start": resource.get("start"),
        "end": resource.get("end"),
        "patient": patient,
        "practitioner": practitioner,
        "slot": (fhir.slot_ids(resource) or [None])[0],
        "service": {"code": coding.get("code"), "display": coding.get("display")},
        "mode": fhir.extension_value(resource, fhir.MODE_URL, "valueCode") or "in-person",
        "video_room": fhir.extension_value(resource, fhir.VIDEO_ROOM_URL, "valueUrl"),
        "payment_due_by": format_instant(hold_until) if hold_until else None,
        "cancellation_reason": (resource.get("cancelationReason") or {}).get("text"),
    }


def _change(
    core: Any,
    actor: Actor,
    appointment_id: str,
    edit: Any,
) -> dict[str, Any]:
    """Read, edit and write one Appointment in one transaction, under the booking rules."""
    with core.repository.transaction() as conn:
        stored = core.repository.read(
            RequestContext.system(), "Appointment", appointment_id, conn=conn
        )
        old = stored.resource()
        new = copy.deepcopy(old)
        new.pop("meta", None)
        edit(conn, new)
        try:
            policy.check_change(core, old, new, actor.role)
        except RejectWrite as exc:
            raise _rejected(exc) from None
        core.repository.update(
            actor.ctx,
            conn,
            "Appointment",
            appointment_id,
            new,
            if_match=stored.version_id,
        )
    return summary(appointment_id, new)


def cancel(core: Any, actor: Actor, appointment_id: str, reason: str) -> dict[str, Any]:
    def edit(conn: sa.Connection, appointment: dict[str, Any]) -> None:
        appointment["status"] = "cancelled"
        appointment["cancelationReason"] = {"text": reason}

    return _change(core, actor, appointment_id, edit)


def reschedule(core: Any, actor: Actor, appointment_id: str, slot_id: str) -> dict[str, Any]:
    def edit(conn: sa.Connection, appointment: dict[str, Any]) -> None:
        row = conn.execute(sa.select(SLOTS).where(SLOTS.c.slot_id == slot_id)).first()
        _, practitioner = fhir.participants(appointment)
        if row is None or row.practitioner_id != practitioner:
            raise Problem(404, f"Slot/{slot_id} is not a slot of this appointment's practitioner")
        if appointment.get("status") not in ("booked", "pending"):
            raise Problem(409, f"A {appointment.get('status')} appointment cannot be rescheduled")
        appointment["slot"] = [{"reference": f"Slot/{slot_id}"}]
        appointment["start"] = format_instant(row.start)
        appointment["end"] = format_instant(row.end)

    return _change(core, actor, appointment_id, edit)


def set_status(core: Any, actor: Actor, appointment_id: str, status: str) -> dict[str, Any]:
    if status not in STAFF_STATUSES:
        raise Problem(400, "status must be arrived, fulfilled or noshow")

    def edit(conn: sa.Connection, appointment: dict[str, Any]) -> None:
        appointment["status"] = status

    return _change(core, actor, appointment_id, edit)


def expire_holds(core: Any, conn: sa.Connection, only: str | None = None) -> int:
    """Cancel the pending appointments whose payment window has passed (their slots are
    freed by the same write). Returns how many."""
    query = sa.select(SLOTS.c.appointment_id).where(
        SLOTS.c.status == "held",
        SLOTS.c.hold_expires_at <= now_utc(),
        SLOTS.c.appointment_id.is_not(None),
    )
    if only is not None:
        query = query.where(SLOTS.c.appointment_id == only)
    expired = sorted(set(conn.execute(query).scalars()))
    system = RequestContext.system("scheduling")
    for appointment_id in expired:
        try:
            current = core.repository.read(system, "Appointment", appointment_id, conn=conn)
        except FhirError:
            continue
        body = current.resource()
        if body.get("status") not in ("pending", "proposed"):
            continue
        body.pop("meta", None)
        body["status"] = "cancelled"
        body["cancelationReason"] = {"text": "The payment window expired"}
        core.repository.update(system, conn, "Appointment", appointment_id, body)
    return len(expired)


def confirm_payment(core: Any, conn: sa.Connection, reference: str) -> bool:
    """Book a pending appointment whose payment a payments plugin confirmed; False when it
    is not pending any more (expired, cancelled, already booked)."""
    kind, _, appointment_id = reference.partition("/")
    if kind != "Appointment" or not appointment_id:
        return False
    system = RequestContext.system("scheduling")
    try:
        body = core.repository.read(system, "Appointment", appointment_id, conn=conn).resource()
    except FhirError:
        return False
    if body.get("status") != "pending":
        return False
    body.pop("meta", None)
    body["status"] = "booked"
    core.repository.update(system, conn, "Appointment", appointment_id, body)
    return True
