"""``/api/scheduling``: availability rules, leave, free slots and bookings (see
``docs/scheduling.md``). Errors are problem+json; a booking conflict is a 409 whose
``issues`` carry the OperationOutcome issue FHIR REST would answer."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from flask_smorest import Blueprint

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.identity.care import is_verified_practitioner
from platform_core.web.api import (
    Problem,
    acts_for,
    caller,
    grant_of,
    is_administrator,
    require_access,
)
from plugins.scheduling import availability, booking, fhir
from plugins.scheduling.rules import MODES, RuleError, parse_rule
from plugins.scheduling.schema import RuleRow, SlotRow

bp = Blueprint(
    "scheduling",
    __name__,
    url_prefix="/api/scheduling",
    description="Availability, free slots and booking",
)
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
SLOTS, RULES = SlotRow.__table__, RuleRow.__table__
MAX_PAGE = 500


def _core() -> Any:
    return current_app.extensions["fireside"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "The body must be a JSON object (Content-Type: application/json)")
    return body


def _id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise Problem(400, f"{field} must be a FHIR id", field=field)
    return value


def _role(ctx: RequestContext) -> str | None:
    grant = grant_of(ctx)
    return grant.role if grant is not None else None


def _own_practitioner(ctx: RequestContext) -> str | None:
    grant = grant_of(ctx)
    if grant is None or grant.role != "practitioner" or not grant.fhir_user:
        return None
    kind, _, pid = grant.fhir_user.partition("/")
    return pid if kind == "Practitioner" else None


def _publisher(ctx: RequestContext, named: Any) -> str:
    """The practitioner whose availability the caller changes: themselves (verified), or
    the one an admin or a backend service names."""
    own = _own_practitioner(ctx)
    if own is not None:
        if named not in (None, own):
            raise Problem(403, "Practitioners manage their own availability only")
        with _core().db.connect() as conn:
            if not is_verified_practitioner(conn, own):
                raise Problem(
                    403,
                    "Only practitioners verified by an administrator may publish availability",
                )
        return own
    if not is_administrator(ctx):
        raise Problem(403, "Only the practitioner or an administrator may change availability")
    practitioner = _id(named, "practitioner")
    with _core().db.connect() as conn:
        if not is_verified_practitioner(conn, practitioner):
            raise Problem(
                422, f"Practitioner/{practitioner} is not a verified practitioner's record"
            )
    return practitioner


def _rule(body: dict[str, Any], practitioner: str) -> Any:
    try:
        return parse_rule(body, practitioner, now_utc().date())
    except RuleError as exc:
        raise Problem(400, exc.message, field=exc.field) from None


@bp.post("/rules")
def create_rule() -> Any:
    """Publish a weekly availability rule; its slots are generated before the answer."""
    ctx = caller()
    require_access(ctx, "create", "Slot")
    body = _body()
    practitioner = _publisher(ctx, body.get("practitioner"))
    view, generated = availability.create_rule(_core(), _rule(body, practitioner))
    return {**view, "slots_created": generated.created}, 201


@bp.get("/rules")
def list_rules() -> Any:
    """The active rules of ``?practitioner=`` (default: the caller's own)."""
    ctx = caller()
    require_access(ctx, "search", "Schedule")
    practitioner = request.args.get("practitioner") or _own_practitioner(ctx)
    practitioner = _id(practitioner, "practitioner")
    with _core().db.connect() as conn:
        rows = conn.execute(
            sa.select(RULES)
            .where(RULES.c.practitioner_id == practitioner, RULES.c.active)
            .order_by(RULES.c.created_at)
        ).all()
    return {"rules": [availability.rule_view(r) for r in rows]}


def _owned_rule(ctx: RequestContext, rule_id: str) -> Any:
    with _core().db.connect() as conn:
        row = availability.get_rule(conn, rule_id)
    _publisher(ctx, row.practitioner_id)
    return row


@bp.put("/rules/<rule_id>")
def update_rule(rule_id: str) -> Any:
    """Replace a rule; free slots follow, booked ones stay."""
    ctx = caller()
    require_access(ctx, "update", "Slot")
    row = _owned_rule(ctx, rule_id)
    body = _body()
    view, generated = availability.update_rule(_core(), rule_id, _rule(body, row.practitioner_id))
    return {**view, "slots_created": generated.created, "slots_removed": generated.removed}


@bp.delete("/rules/<rule_id>")
def withdraw_rule(rule_id: str) -> Any:
    """Withdraw a rule: its free slots go, booked appointments keep theirs."""
    ctx = caller()
    require_access(ctx, "delete", "Slot")
    _owned_rule(ctx, rule_id)
    generated = availability.withdraw_rule(_core(), rule_id)
    return {"id": rule_id, "active": False, "slots_removed": generated.removed}


def _instant(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}T", value):
        raise Problem(400, f"{field} must be an instant with its offset", field=field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, f"{field} is not a real date and time", field=field) from None
    if parsed.tzinfo is None:
        raise Problem(400, f"{field} needs a time zone offset (Z or +01:00)", field=field)
    return parsed


@bp.post("/leave")
def add_leave() -> Any:
    """Block a period (holiday, leave): no slots are offered in it; booked ones stay."""
    ctx = caller()
    require_access(ctx, "update", "Slot")
    body = _body()
    practitioner = _publisher(ctx, body.get("practitioner"))
    start, end = _instant(body.get("start"), "start"), _instant(body.get("end"), "end")
    if end <= start:
        raise Problem(400, "end must be after start", field="end")
    if (end - start).days > 366:
        raise Problem(400, "Leave may last at most a year per entry", field="end")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
        raise Problem(400, "reason must be 1 to 200 characters", field="reason")
    view, generated = availability.add_leave(_core(), practitioner, start, end, reason.strip())
    return {**view, "slots_removed": generated.removed}, 201


@bp.delete("/leave/<leave_id>")
def remove_leave(leave_id: str) -> Any:
    ctx = caller()
    require_access(ctx, "update", "Slot")
    _publisher(ctx, availability.leave_owner(_core(), leave_id))
    _, generated = availability.remove_leave(_core(), leave_id)
    return {"id": leave_id, "slots_created": generated.created}


@bp.get("/slots")
def free_slots() -> Any:
    """Free future slots: ``?practitioner=`` (required), ``from``/``to`` (instants),
    ``service=``, ``mode=``, ``limit=`` (default 100, at most 500)."""
    ctx = caller()
    require_access(ctx, "search", "Slot")
    practitioner = _id(request.args.get("practitioner"), "practitioner")
    start = now_utc()
    if "from" in request.args:
        start = max(start, _instant(request.args["from"], "from"))
    query = (
        sa.select(SLOTS, RULES.c.service_code, RULES.c.service_display, RULES.c.modes)
        .join(RULES, RULES.c.id == SLOTS.c.rule_id)
        .add_columns(RULES.c.price_amount, RULES.c.price_currency, RULES.c.location_id)
        .where(
            SLOTS.c.practitioner_id == practitioner,
            SLOTS.c.status == "free",
            SLOTS.c.start > start,
        )
        .order_by(SLOTS.c.start)
    )
    if "to" in request.args:
        query = query.where(SLOTS.c.start < _instant(request.args["to"], "to"))
    if service := request.args.get("service"):
        query = query.where(RULES.c.service_code == service)
    if mode := request.args.get("mode"):
        if mode not in MODES:
            raise Problem(400, "mode must be in-person or video", field="mode")
        query = query.where(RULES.c.modes.contains(mode))
    limit = request.args.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
        raise Problem(400, f"limit must be a whole number from 1 to {MAX_PAGE}", field="limit")
    with _core().db.connect() as conn:
        rows = conn.execute(query.limit(int(limit))).all()
    return {
        "slots": [
            {
                "slot": r.slot_id,
                "practitioner": r.practitioner_id,
                "start": format_instant(r.start),
                "end": format_instant(r.end),
                "service": {"code": r.service_code, "display": r.service_display},
                "modes": r.modes.split(","),
                "location": r.location_id,
                "price": (
                    {"amount": r.price_amount, "currency": r.price_currency}
                    if r.price_amount is not None
                    else None
                ),
            }
            for r in rows
        ]
    }


def _actor(ctx: RequestContext) -> booking.Actor:
    grant = grant_of(ctx)
    if grant is None:
        return booking.Actor(ctx.actor, None)
    reference = grant.fhir_user or grant.user_id or grant.client_id
    return booking.Actor(reference, grant.role if grant.user_id else None)


@bp.post("/bookings")
def book() -> Any:
    """Book a free slot for a patient the caller acts for: ``{slot, patient, mode, reason}``.
    409 when the slot is taken or past; the loser of a race changes nothing."""
    ctx = caller()
    require_access(ctx, "create", "Appointment")
    body = _body()
    slot = _id(body.get("slot"), "slot")
    patient = _id(body.get("patient"), "patient")
    mode = body.get("mode", "in-person")
    if mode not in MODES:
        raise Problem(400, "mode must be in-person or video", field="mode")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
        raise Problem(400, "reason must be text of at most 1000 characters", field="reason")
    if not acts_for(ctx, patient):
        raise Problem(403, f"You may not book for Patient/{patient}")
    result = booking.book(
        _core(),
        _actor(ctx),
        slot_id=slot,
        patient_id=patient,
        mode=mode,
        reason=reason.strip() if reason else None,
    )
    return result, 201, {"Location": f"/fhir/Appointment/{result['appointment']}"}


def _appointment_for(ctx: RequestContext, appointment_id: str) -> dict[str, Any]:
    """The Appointment if the caller may see it (its patient's side, its practitioner, an
    admin); 404 otherwise, exactly like an unknown one."""
    _id(appointment_id, "appointment")
    try:
        stored = _core().repository.read(RequestContext.system(), "Appointment", appointment_id)
    except FhirError:
        raise Problem(404, f"No appointment {appointment_id}") from None
    body = stored.resource()
    patient, practitioner = fhir.participants(body)
    own = _own_practitioner(ctx)
    if is_administrator(ctx) or (own is not None and own == practitioner):
        return body
    if patient is not None and own is None and acts_for(ctx, patient):
        return body
    raise Problem(404, f"No appointment {appointment_id}")


@bp.get("/bookings/<appointment_id>")
def get_booking(appointment_id: str) -> Any:
    ctx = caller()
    require_access(ctx, "read", "Appointment")
    return booking.summary(appointment_id, _appointment_for(ctx, appointment_id))


@bp.get("/bookings")
def list_bookings() -> Any:
    """The caller's appointments: ``?patient=`` (one they act for), or a practitioner's
    own; newest start first."""
    ctx = caller()
    require_access(ctx, "search", "Appointment")
    params: list[tuple[str, str]] = [("_sort", "-date"), ("_count", "100")]
    if patient := request.args.get("patient"):
        if not acts_for(ctx, _id(patient, "patient")):
            raise Problem(404, f"No patient {patient}")
        params.append(("patient", f"Patient/{patient}"))
    elif own := _own_practitioner(ctx):
        params.append(("practitioner", f"Practitioner/{own}"))
    else:
        raise Problem(400, "Say whose appointments: ?patient=<id>", field="patient")
    repo = _core().repository
    page = repo.search(RequestContext.system(), repo.parse_search("Appointment", params))
    return {"bookings": [booking.summary(m.id, m.resource()) for m in page.matches]}


@bp.post("/bookings/<appointment_id>/cancel")
def cancel(appointment_id: str) -> Any:
    """Cancel (``{reason}``); the slot is free again at once."""
    ctx = caller()
    require_access(ctx, "update", "Appointment")
    _appointment_for(ctx, appointment_id)
    reason = _body().get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise Problem(400, "reason must be 1 to 500 characters", field="reason")
    return booking.cancel(_core(), _actor(ctx), appointment_id, reason.strip())


@bp.post("/bookings/<appointment_id>/reschedule")
def reschedule(appointment_id: str) -> Any:
    """Move to another free slot of the same practitioner (``{slot}``)."""
    ctx = caller()
    require_access(ctx, "update", "Appointment")
    _appointment_for(ctx, appointment_id)
    slot = _id(_body().get("slot"), "slot")
    return booking.reschedule(_core(), _actor(ctx), appointment_id, slot)


@bp.post("/bookings/<appointment_id>/status")
def set_status(appointment_id: str) -> Any:
    """The practitioner (or an admin) records ``arrived``, ``fulfilled`` or ``noshow``."""
    ctx = caller()
    require_access(ctx, "update", "Appointment")
    body = _appointment_for(ctx, appointment_id)
    _, practitioner = fhir.participants(body)
    if not is_administrator(ctx) and _own_practitioner(ctx) != practitioner:
        raise Problem(403, "Only the appointment's practitioner or an administrator may")
    status = _body().get("status")
    if not isinstance(status, str):
        raise Problem(400, "status must be arrived, fulfilled or noshow", field="status")
    return booking.set_status(_core(), _actor(ctx), appointment_id, status)
