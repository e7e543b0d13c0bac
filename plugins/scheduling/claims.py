"""Claiming and releasing slots for Appointments, inside the Appointment write's transaction.

Every write of an Appointment (through the booking API or straight over FHIR REST) passes
through :func:`sync_claims` from the ``fhir_resource_before_write`` hook: the slots the new
version holds are claimed with one conditional ``UPDATE ... WHERE status = 'free'`` each,
the ones it gave up are freed, and the Slot resources follow. The conditional update is the
whole race story: of N transactions claiming one slot, one changes the row; the others
change nothing and answer 409, and nothing of theirs is written. On PostgreSQL a slot
whose row another transaction has locked counts as taken (``FOR UPDATE SKIP LOCKED``), so
losers answer at once instead of each holding a pooled connection while they queue; SQLite
serializes writers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.db.prepared import prepared
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import now_utc
from platform_core.plugin_api import RejectWrite
from plugins.scheduling import fhir
from plugins.scheduling.schema import SlotRow

SLOTS = SlotRow.__table__
RELEASED = frozenset({"cancelled", "entered-in-error"})
"""Appointment statuses that hold no slot."""
HOLDING = frozenset({"proposed", "pending"})
"""Statuses that hold a slot without booking it (waiting for payment or confirmation)."""
SLOT_STATUS = {"held": "busy-tentative", "busy": "busy", "free": "free"}


def held_slots(appointment: dict[str, Any] | None) -> set[str]:
    if appointment is None or appointment.get("status") in RELEASED:
        return set()
    return set(fhir.slot_ids(appointment))


def _want(appointment: dict[str, Any]) -> str:
    return "held" if appointment.get("status") in HOLDING else "busy"


def sync_claims(
    core: Any,
    conn: Connection,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    appointment_id: str | None,
    *,
    hold_until: datetime | None = None,
) -> None:
    """Claim, convert and release slots so they match ``new`` (None: deleted)."""
    before, after = held_slots(old), held_slots(new)
    now = now_utc()
    for slot_id in sorted(after - before):
        assert new is not None
        _claim(core, conn, slot_id, new, appointment_id, now, hold_until)
    for slot_id in sorted(before - after):
        _set(core, conn, slot_id, "free", None, None)
    if new is not None:
        for slot_id in sorted(before & after):
            want = _want(new)
            if old is not None and _want(old) != want:
                _set(core, conn, slot_id, want, appointment_id, None)


def _claim(
    core: Any,
    conn: Connection,
    slot_id: str,
    appointment: dict[str, Any],
    appointment_id: str | None,
    now: datetime,
    hold_until: datetime | None,
) -> None:
    """Claim one slot with one conditional UPDATE (free, future, of the practitioner the
    Appointment names); only when it changes nothing, read the row to say why."""
    _, practitioner = fhir.participants(appointment)
    want = _want(appointment)
    statement = _claim_statement(conn.dialect.name == "postgresql", practitioner is not None)
    claimed = conn.execute(
        statement,
        {
            "slot": slot_id,
            "now": now,
            "practitioner": practitioner,
            "status": want,
            "appointment": appointment_id,
            "hold": hold_until if want == "held" else None,
        },
    )
    if claimed.rowcount != 1:
        raise _refusal(conn, slot_id, practitioner, now)
    _write_slot(core, conn, slot_id, want)


@cache
def _claim_statement(postgresql: bool, by_practitioner: bool) -> sa.Update:
    """``UPDATE scheduling_slot SET status, appointment, hold WHERE the slot is free, starts
    after :now (and is :practitioner's)``, built once per shape."""
    condition = (
        (SLOTS.c.slot_id == sa.bindparam("slot"))
        & (SLOTS.c.status == "free")
        & (SLOTS.c.start > sa.bindparam("now"))
    )
    if by_practitioner:
        condition = condition & (SLOTS.c.practitioner_id == sa.bindparam("practitioner"))
    if postgresql:
        # A slot another transaction is claiming right now counts as taken: losers answer
        # at once instead of queueing on its row lock with a pooled connection each.
        unlocked = (
            sa.select(SLOTS.c.slot_id)
            .where(SLOTS.c.slot_id == sa.bindparam("slot"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        condition = condition & (SLOTS.c.slot_id == unlocked)
    statement = (
        sa.update(SLOTS)
        .where(condition)
        .values(
            status=sa.bindparam("status"),
            appointment_id=sa.bindparam("appointment"),
            hold_expires_at=sa.bindparam("hold"),
        )
    )
    return prepared(statement, generic=False)  # a key lookup: its plan never varies


def _refusal(
    conn: Connection, slot_id: str, practitioner: str | None, now: datetime
) -> RejectWrite:
    """Why a claim changed no row: unknown (404), another practitioner's (422), past (409)
    or taken (409), in that order."""
    row = conn.execute(
        sa.select(SLOTS.c.practitioner_id, SLOTS.c.start).where(SLOTS.c.slot_id == slot_id)
    ).first()
    if row is None:
        return RejectWrite(
            f"Slot/{slot_id} is not a bookable slot (unknown, or not generated from availability)",
            status=404,
            expression="Appointment.slot",
        )
    if practitioner is not None and practitioner != row.practitioner_id:
        return RejectWrite(
            f"Slot/{slot_id} belongs to another practitioner than the Appointment names",
            expression="Appointment.participant",
        )
    if row.start <= now:
        return RejectWrite(
            f"Slot/{slot_id} starts in the past; choose a future slot",
            status=409,
            expression="Appointment.slot",
        )
    return taken(slot_id)


def taken(slot_id: str) -> RejectWrite:
    """The refusal of a claim on a slot someone else holds."""
    return RejectWrite(
        f"Slot/{slot_id} is already booked; choose another slot",
        status=409,
        expression="Appointment.slot",
    )


def _set(
    core: Any,
    conn: Connection,
    slot_id: str,
    status: str,
    appointment_id: str | None,
    hold_until: datetime | None,
) -> None:
    values: dict[str, Any] = {"status": status, "hold_expires_at": hold_until}
    if status == "free":
        values["appointment_id"] = None
    elif appointment_id is not None:
        values["appointment_id"] = appointment_id
    changed = conn.execute(sa.update(SLOTS).where(SLOTS.c.slot_id == slot_id).values(**values))
    if changed.rowcount == 1:
        _write_slot(core, conn, slot_id, status)


def _write_slot(core: Any, conn: Connection, slot_id: str, status: str) -> None:
    """Bring the Slot resource's status in line (a new version only when it changes): one
    locked read and one write, whatever else the Slot carries kept as it is."""
    ctx = RequestContext.system("scheduling")
    try:
        current = core.repository.read_for_update(ctx, conn, "Slot", slot_id)
    except FhirError:
        return  # the Slot resource was deleted over FHIR; the bookkeeping row still counts
    body = current.resource()
    wanted = SLOT_STATUS[status]
    if body.get("status") == wanted:
        return
    body["status"] = wanted
    body.pop("meta", None)
    core.repository.update(ctx, conn, "Slot", slot_id, body, current=current)


def link_appointment(conn: Connection, slot_ids: list[str], appointment_id: str) -> None:
    """Record which appointment holds the slots (for FHIR creates, whose id is assigned after
    the before-write hook)."""
    if slot_ids:
        conn.execute(
            sa.update(SLOTS)
            .where(SLOTS.c.slot_id.in_(slot_ids), SLOTS.c.appointment_id.is_(None))
            .values(appointment_id=appointment_id)
        )


def hold_deadline(seconds: int | None) -> datetime | None:
    return now_utc() + timedelta(seconds=seconds) if seconds else None
