"""Keeping each practitioner's Slots in step with their rules over a rolling horizon.

Generation is a reconciliation, safe to run any number of times: it computes the slots the
active rules want (minus leave and the past), creates the missing ones (FHIR Slot and a
bookkeeping row, in bulk), and removes free slots no rule wants any more. Held and busy
slots are never touched, so booked appointments survive any change of rules; a wanted slot
that would overlap one of them is simply not created.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import now_utc
from platform_core.fhir.storage import store
from plugins.scheduling import fhir
from plugins.scheduling.rules import Rule
from plugins.scheduling.schema import LeaveRow, RuleRow, SlotRow

RULES, LEAVE, SLOTS = RuleRow.__table__, LeaveRow.__table__, SlotRow.__table__
ACTOR = "scheduling"
"""The actor named in the audit trail and provenance of generated resources."""
DEFAULT_HORIZON_DAYS = 30
CHUNK = 5000
"""Slots stored per ``create_many`` call (one COPY per table each)."""


@dataclass(frozen=True)
class Generated:
    """What one run changed."""

    created: int
    removed: int
    kept: int


def rule_from_row(row: Any) -> Rule:
    return Rule(
        practitioner_id=row.practitioner_id,
        service_code=row.service_code,
        service_display=row.service_display,
        modes=tuple(row.modes.split(",")),
        time_zone=row.time_zone,
        weekdays=frozenset(int(d) for d in row.weekdays.split(",")),
        start_minute=row.start_minute,
        end_minute=row.end_minute,
        slot_minutes=row.slot_minutes,
        buffer_minutes=row.buffer_minutes,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        location_id=row.location_id,
        price_amount=row.price_amount,
        price_currency=row.price_currency,
    )


def horizon_days(core: Any) -> int:
    return int(core.settings.extra.get("scheduling_horizon_days", DEFAULT_HORIZON_DAYS))


def generate(
    core: Any, conn: Connection, practitioner_id: str, *, now: datetime | None = None
) -> Generated:
    """Reconcile ``practitioner_id``'s slots from now to the horizon, in ``conn``."""
    now = now or now_utc()
    until = now + timedelta(days=horizon_days(core))
    rules = conn.execute(
        sa.select(RULES).where(RULES.c.practitioner_id == practitioner_id, RULES.c.active)
    ).all()
    leave = [
        (r.start, r.end)
        for r in conn.execute(
            sa.select(LEAVE.c.start, LEAVE.c.end).where(
                LEAVE.c.practitioner_id == practitioner_id,
                LEAVE.c.end > now,
                LEAVE.c.start < until,
            )
        )
    ]
    wanted: dict[datetime, tuple[datetime, Any]] = {}
    first, last = (now - timedelta(days=1)).date(), (until + timedelta(days=1)).date()
    for row in rules:
        for start, end in rule_from_row(row).slots(first, last):
            if start <= now or start >= until:
                continue
            if any(s < end and start < e for s, e in leave):
                continue
            wanted.setdefault(start, (end, row))
    existing = conn.execute(
        sa.select(SLOTS.c.slot_id, SLOTS.c.start, SLOTS.c.end, SLOTS.c.status, SLOTS.c.rule_id)
        .where(SLOTS.c.practitioner_id == practitioner_id, SLOTS.c.start > now)
        .order_by(SLOTS.c.start)
    ).all()
    taken = [(r.start, r.end) for r in existing if r.status != "free"]
    remove, have = [], set()
    for r in existing:
        want = wanted.get(r.start)
        unchanged = want is not None and want[0] == r.end and want[1].id == r.rule_id
        if r.status != "free" or unchanged:  # booked slots stay whatever the rules say
            have.add(r.start)
        else:
            remove.append(r.slot_id)
    create = [
        (start, end, row)
        for start, (end, row) in sorted(wanted.items(), key=lambda item: item[0])
        if start not in have and not any(s < end and start < e for s, e in taken)
    ]
    _remove(core, conn, remove)
    _create(core, conn, practitioner_id, create)
    return Generated(created=len(create), removed=len(remove), kept=len(have))


def _create(
    core: Any, conn: Connection, practitioner_id: str, slots: list[tuple[datetime, datetime, Any]]
) -> None:
    if not slots:
        return
    ctx = RequestContext.system(ACTOR)
    items, rows = [], []
    for start, end, rule in slots:
        slot_id = str(uuid.uuid4())
        resource = fhir.slot(
            rule.schedule_id, start, end, rule.service_code, rule.service_display, "free"
        )
        items.append((resource, slot_id))
        rows.append(
            {
                "slot_id": slot_id,
                "rule_id": rule.id,
                "practitioner_id": practitioner_id,
                "start": start,
                "end": end,
                "status": "free",
                "appointment_id": None,
                "hold_expires_at": None,
            }
        )
    _validate_templates(core, items, [row["rule_id"] for row in rows])
    for chunk in range(0, len(items), CHUNK):
        core.repository.create_many(ctx, conn, items[chunk : chunk + CHUNK], validate=False)
    store.bulk_insert(conn, SLOTS, rows)


def _validate_templates(
    core: Any, items: list[tuple[dict[str, Any], str]], rule_ids: list[str]
) -> None:
    """Validate the first Slot of each rule. The Slots of one rule differ only in their id
    and times, which the generator writes itself, so the others need no validation each
    (``create_many(validate=False)``); a rule that made an invalid Slot is a server bug."""
    seen: set[str] = set()
    for (resource, _), rule_id in zip(items, rule_ids, strict=True):
        if rule_id in seen:
            continue
        seen.add(rule_id)
        issues = core.repository.validate(resource, expect_type="Slot")
        errors = [i for i in issues if i.severity in {"error", "fatal"}]
        if errors:
            raise FhirError(500, errors)


def _remove(core: Any, conn: Connection, slot_ids: list[str]) -> None:
    if not slot_ids:
        return
    ctx = RequestContext.system(ACTOR)
    for slot_id in slot_ids:
        core.repository.delete(ctx, conn, "Slot", slot_id)
    conn.execute(sa.delete(SLOTS).where(SLOTS.c.slot_id.in_(slot_ids)))


def practitioners_with_rules(conn: Connection) -> list[str]:
    """Every practitioner who has an active rule (the daily roll of the horizon)."""
    return list(
        conn.execute(sa.select(RULES.c.practitioner_id).where(RULES.c.active).distinct()).scalars()
    )
