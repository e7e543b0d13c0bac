"""What the scheduling plugin checks and does on every FHIR write (the
``fhir_resource_before_write`` hook): only verified practitioners publish Schedules and
Slots, and every Appointment write claims and releases its slots in the same transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from platform_core.auth.grants import Grant
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import format_instant
from platform_core.identity.care import is_verified_practitioner
from platform_core.plugin_api import PendingWrite, RejectWrite
from plugins.scheduling import claims, fhir, policy
from plugins.scheduling.schema import SlotRow

SLOTS = SlotRow.__table__


def before_write(core: Any, write: PendingWrite) -> None:
    grant = write.ctx.grant if isinstance(write.ctx.grant, Grant) else None
    if write.resource_type in ("Schedule", "Slot"):
        _check_publisher(write, grant)
    elif write.resource_type == "Appointment" and write.conn is not None:
        _appointment(core, write, grant)


def _check_publisher(write: PendingWrite, grant: Grant | None) -> None:
    """An unverified practitioner may not publish availability, over any route."""
    if write.ctx.internal or grant is None or grant.role != "practitioner":
        return
    practitioner = (grant.fhir_user or "").partition("/")[2]
    assert write.conn is not None
    if not practitioner or not is_verified_practitioner(write.conn, practitioner):
        raise RejectWrite(
            "Only practitioners verified by an administrator may publish availability",
            status=403,
        )


def _appointment(core: Any, write: PendingWrite, grant: Grant | None) -> None:
    conn = write.conn
    assert conn is not None
    old = None
    if write.resource_id is not None and write.interaction != "create":
        # A create has no earlier version, whatever id it comes with: nothing to read.
        try:
            stored = core.repository.read(
                RequestContext.system(), "Appointment", write.resource_id, conn=conn
            )
            old = stored.resource()
        except FhirError:
            old = None
    new = write.resource
    if old is not None and new is not None:
        policy.check_change(core, old, new, grant.role if grant else None)
    if new is not None:
        _fill_times(conn, new)
    hold = policy.minutes(core, "scheduling_hold_minutes", 15) * 60
    claims.sync_claims(
        core, conn, old, new, write.resource_id, hold_until=claims.hold_deadline(hold)
    )


def _fill_times(conn: sa.Connection, appointment: dict[str, Any]) -> None:
    """An Appointment booked over FHIR with a slot but no times takes the slot's times (FHIR
    requires them once booked: invariant app-3)."""
    ids = fhir.slot_ids(appointment)
    if not ids or ("start" in appointment and "end" in appointment):
        return
    rows = conn.execute(sa.select(SLOTS.c.start, SLOTS.c.end).where(SLOTS.c.slot_id.in_(ids))).all()
    if rows:
        appointment.setdefault("start", format_instant(min(r.start for r in rows)))
        appointment.setdefault("end", format_instant(max(r.end for r in rows)))
