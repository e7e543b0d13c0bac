"""Publishing availability: rules and leave, each change followed by regenerating the
practitioner's slots in the same transaction (so the API answers with the slots in place)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from platform_core.fhir.context import RequestContext
from platform_core.fhir.instants import now_utc
from platform_core.web.api import Problem
from plugins.scheduling import fhir
from plugins.scheduling.generation import ACTOR, Generated, generate, rule_from_row
from plugins.scheduling.rules import Rule, overlap, rule_json
from plugins.scheduling.schema import LeaveRow, RuleRow

RULES, LEAVE = RuleRow.__table__, LeaveRow.__table__


def _values(rule: Rule) -> dict[str, Any]:
    return {
        "practitioner_id": rule.practitioner_id,
        "location_id": rule.location_id,
        "service_code": rule.service_code,
        "service_display": rule.service_display,
        "modes": ",".join(rule.modes),
        "price_amount": rule.price_amount,
        "price_currency": rule.price_currency,
        "time_zone": rule.time_zone,
        "weekdays": ",".join(str(d) for d in sorted(rule.weekdays)),
        "start_minute": rule.start_minute,
        "end_minute": rule.end_minute,
        "slot_minutes": rule.slot_minutes,
        "buffer_minutes": rule.buffer_minutes,
        "valid_from": rule.valid_from,
        "valid_until": rule.valid_until,
    }


def _check_overlap(conn: sa.Connection, rule: Rule, skip: str | None) -> None:
    query = sa.select(RULES).where(RULES.c.practitioner_id == rule.practitioner_id, RULES.c.active)
    today = now_utc().date()
    for row in conn.execute(query):
        if row.id == skip:
            continue
        clash = overlap(rule, rule_from_row(row), max(today, rule.valid_from))
        if clash is not None:
            raise Problem(
                409,
                f"This rule overlaps rule {row.id} ({row.service_display}) from "
                f"{clash[0].isoformat()} to {clash[1].isoformat()}; change the days or hours",
                rule=row.id,
            )


def rule_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "schedule": row.schedule_id,
        "active": row.active,
        **rule_json(rule_from_row(row)),
    }


def create_rule(core: Any, rule: Rule) -> tuple[dict[str, Any], Generated]:
    rule_id = str(uuid.uuid4())
    now = now_utc()
    with core.repository.transaction() as conn:
        _check_overlap(conn, rule, None)
        schedule = core.repository.create(
            RequestContext.system(ACTOR),
            conn,
            fhir.schedule(
                rule_id,
                rule.practitioner_id,
                rule.location_id,
                rule.service_code,
                rule.service_display,
            ),
        )
        conn.execute(
            sa.insert(RULES).values(
                id=rule_id,
                schedule_id=schedule.id,
                active=True,
                created_at=now,
                updated_at=now,
                **_values(rule),
            )
        )
        generated = generate(core, conn, rule.practitioner_id)
        row = conn.execute(sa.select(RULES).where(RULES.c.id == rule_id)).one()
    return rule_view(row), generated


def get_rule(conn: sa.Connection, rule_id: str) -> Any:
    row = conn.execute(sa.select(RULES).where(RULES.c.id == rule_id)).first()
    if row is None:
        raise Problem(404, f"No availability rule {rule_id}")
    return row


def update_rule(core: Any, rule_id: str, rule: Rule) -> tuple[dict[str, Any], Generated]:
    with core.repository.transaction() as conn:
        row = get_rule(conn, rule_id)
        if not row.active:
            raise Problem(409, "This rule was withdrawn; create a new one")
        _check_overlap(conn, rule, rule_id)
        conn.execute(
            sa.update(RULES)
            .where(RULES.c.id == rule_id)
            .values(updated_at=now_utc(), **_values(rule))
        )
        _write_schedule(core, conn, rule_id, rule, active=True)
        generated = generate(core, conn, rule.practitioner_id)
        row = get_rule(conn, rule_id)
    return rule_view(row), generated


def withdraw_rule(core: Any, rule_id: str) -> Generated:
    """Stop a rule: its free slots go, booked ones stay."""
    with core.repository.transaction() as conn:
        row = get_rule(conn, rule_id)
        conn.execute(
            sa.update(RULES).where(RULES.c.id == rule_id).values(active=False, updated_at=now_utc())
        )
        _write_schedule(core, conn, rule_id, rule_from_row(row), active=False)
        return generate(core, conn, row.practitioner_id)


def _write_schedule(core: Any, conn: sa.Connection, rule_id: str, rule: Rule, active: bool) -> None:
    row = get_rule(conn, rule_id)
    body = fhir.schedule(
        rule_id,
        rule.practitioner_id,
        rule.location_id,
        rule.service_code,
        rule.service_display,
        active=active,
    )
    core.repository.update(RequestContext.system(ACTOR), conn, "Schedule", row.schedule_id, body)


def add_leave(
    core: Any, practitioner_id: str, start: datetime, end: datetime, reason: str
) -> tuple[dict[str, Any], Generated]:
    leave_id = str(uuid.uuid4())
    with core.repository.transaction() as conn:
        conn.execute(
            sa.insert(LEAVE).values(
                id=leave_id,
                practitioner_id=practitioner_id,
                start=start,
                end=end,
                reason=reason,
                created_at=now_utc(),
            )
        )
        generated = generate(core, conn, practitioner_id)
    return leave_view(leave_id, practitioner_id, start, end, reason), generated


def leave_view(
    leave_id: str, practitioner_id: str, start: datetime, end: datetime, reason: str
) -> dict[str, Any]:
    return {
        "id": leave_id,
        "practitioner": practitioner_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "reason": reason,
    }


def remove_leave(core: Any, leave_id: str) -> tuple[str, Generated]:
    with core.repository.transaction() as conn:
        row = conn.execute(sa.select(LEAVE).where(LEAVE.c.id == leave_id)).first()
        if row is None:
            raise Problem(404, f"No leave {leave_id}")
        conn.execute(sa.delete(LEAVE).where(LEAVE.c.id == leave_id))
        return row.practitioner_id, generate(core, conn, row.practitioner_id)


def leave_owner(core: Any, leave_id: str) -> str:
    with core.db.connect() as conn:
        owner = conn.execute(
            sa.select(LEAVE.c.practitioner_id).where(LEAVE.c.id == leave_id)
        ).scalar()
    if owner is None:
        raise Problem(404, f"No leave {leave_id}")
    return owner
