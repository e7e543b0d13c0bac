"""``GET /api/care_metrics``: what happened on the platform over a range of days, for
administrators and backend services (docs/care_metrics.md).

Thin view: gate the caller (an ``admin`` or ``super_admin`` user, or a backend-services
token holding a ``system/`` scope), parse the day range, run :mod:`plugins.care_metrics.queries`
on one read connection, render.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import marshmallow as ma
from flask import current_app, request
from marshmallow import fields

from platform_core.fhir.context import RequestContext
from platform_core.fhir.instants import now_utc
from platform_core.web.api import ApiBlueprint, Problem, caller, is_administrator
from plugins.care_metrics.queries import DayRange, metrics

DEFAULT_DAYS = 30
"""The range without ``from``: the last 30 days, today included."""
MAX_DAYS = 366
"""The longest range answered, in days (a leap year)."""
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DaySchema(ma.Schema):
    day = fields.String(required=True, metadata={"description": "A UTC day, YYYY-MM-DD"})
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class AppointmentsSchema(ma.Schema):
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_day = fields.List(fields.Nested(DaySchema), required=True)


class MetricsSchema(ma.Schema):
    from_ = fields.String(data_key="from", attribute="from", required=True)
    to = fields.String(required=True)
    patients = fields.Integer(required=True)
    practitioners = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    appointments = fields.Nested(AppointmentsSchema, required=True)
    prescriptions_issued = fields.Integer(required=True)


def _bad(parameter: str, message: str) -> Problem:
    return Problem(400, f"{parameter}: {message}", errors={"query": {parameter: [message]}})


def _day(parameter: str) -> date | None:
    raw = request.args.get(parameter)
    if raw is None:
        return None
    if not _DATE_RE.match(raw):
        raise _bad(parameter, "give a day as YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad(parameter, f"{raw} is not a calendar date") from None


def day_range() -> DayRange:
    """The requested days: ``from`` and ``to`` inclusive (UTC), by default the last
    :data:`DEFAULT_DAYS` days up to today; 400 when reversed or longer than
    :data:`MAX_DAYS`."""
    first, last = _day("from"), _day("to")
    if last is None:
        last = now_utc().date()
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise _bad("from", f"{first} is after to ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise _bad("to", f"the range may span at most {MAX_DAYS} days")
    return DayRange(first, last)


def require_metrics_reader(ctx: RequestContext) -> None:
    """403 unless an administrator or a backend service with a ``system/`` scope."""
    if not is_administrator(ctx):
        raise Problem(
            403,
            "Care metrics are for administrators and backend services with a system/ scope",
            title="Forbidden",
        )


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    blp = ApiBlueprint(
        "care_metrics",
        __name__,
        url_prefix="/api/care_metrics",
        description="Platform metrics for administrators (docs/care_metrics.md)",
    )

    @blp.get("")
    @blp.response(200, MetricsSchema)
    def read_metrics() -> dict[str, Any]:
        """Patients, practitioners, appointments by status and day, prescriptions issued.

        Query: ``from`` and ``to`` (YYYY-MM-DD, UTC days, inclusive; default the last 30
        days up to today; at most 366 days)."""
        require_metrics_reader(caller())
        days = day_range()
        core = current_app.extensions["fireside"]
        with core.repository.read_engine.connect() as conn:
            return metrics(conn, days).as_json()

    return blp
