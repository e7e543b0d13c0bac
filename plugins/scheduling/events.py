"""Turning committed Appointment changes into domain events.

A job triggered by every Appointment write (through the outbox, so none is missed) compares
the new version with the one before and publishes ``appointment.booked``, ``.cancelled``,
``.rescheduled`` or ``.fulfilled`` (see ``docs/care_workflows.md``). Deriving events from
the FHIR history means a clinic that marks an appointment fulfilled over FHIR REST gets its
invoice just like the booking API would. The events are published in the job's own
transaction, so they are enqueued exactly when the job is marked done.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.jobs.definitions import JobContext
from platform_core.plugin_api import ResourceChange
from plugins.scheduling import claims, fhir
from plugins.scheduling.schema import RuleRow, SlotRow

SLOTS, RULES = SlotRow.__table__, RuleRow.__table__


def on_appointment_change(ctx: JobContext) -> None:
    change = ResourceChange.from_payload(ctx.payload)
    if change.deleted:
        return
    repo = ctx.core.repository
    system = RequestContext.system("scheduling")
    conn = ctx.conn
    try:
        version = str(change.version_id)
        new = repo.vread(system, "Appointment", change.resource_id, version, conn=conn)
    except FhirError:
        return
    body = new.resource()
    old = None
    if change.version_id > 1:
        try:
            previous = str(change.version_id - 1)
            old = repo.vread(
                system, "Appointment", change.resource_id, previous, conn=conn
            ).resource()
        except FhirError:
            old = None
    else:
        # A create over FHIR had no id yet when its slots were claimed (later versions
        # claim with theirs): record which appointment holds them.
        claims.link_appointment(conn, fhir.slot_ids(body), change.resource_id)
    for event, extra in changes(old, body):
        payload = {**event_payload(ctx.conn, change.resource_id, body), **extra}
        ctx.core.jobs.publish(ctx.conn, event, payload)


def changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events between two versions of an Appointment, with their extra fields."""
    before = old.get("status") if old else None
    after = new.get("status")
    found: list[tuple[str, dict[str, Any]]] = []
    if after == "booked" and before != "booked":
        found.append(("appointment.booked", {}))
    elif after == "booked" and old is not None and old.get("start") != new.get("start"):
        found.append(("appointment.rescheduled", {"previous_start": old.get("start")}))
    if after == "cancelled" and before != "cancelled" and before is not None:
        reason = (new.get("cancelationReason") or {}).get("text", "")
        found.append(("appointment.cancelled", {"reason": reason}))
    if after == "fulfilled" and before != "fulfilled":
        found.append(("appointment.fulfilled", {}))
    return found


def event_payload(conn: sa.Connection, appointment_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The common payload of the appointment events."""
    patient, practitioner = fhir.participants(body)
    coding = ((body.get("serviceType") or [{}])[0].get("coding") or [{}])[0]
    mode = fhir.extension_value(body, fhir.MODE_URL, "valueCode") or "in-person"
    return {
        "appointment": appointment_id,
        "patient": patient,
        "practitioner": practitioner,
        "start": body.get("start"),
        "end": body.get("end"),
        "status": body.get("status"),
        "service": coding.get("code"),
        "service_display": coding.get("display"),
        "mode": mode,
        "price": price_of(conn, fhir.slot_ids(body)),
    }


def price_of(conn: sa.Connection, slot_ids: list[str]) -> dict[str, Any] | None:
    """The price of the rule the appointment's slot came from (None: free or unknown)."""
    if not slot_ids:
        return None
    row = conn.execute(
        sa.select(RULES.c.price_amount, RULES.c.price_currency)
        .join(SLOTS, SLOTS.c.rule_id == RULES.c.id)
        .where(SLOTS.c.slot_id == slot_ids[0])
    ).first()
    if row is None or row.price_amount is None:
        return None
    return {"amount": int(row.price_amount), "currency": row.price_currency}
