"""The numbers of the admin metrics, each one aggregate SQL query over the core's tables.

Nothing loads resources: counts come from ``fhir_resource`` (current versions), the search
index (``fhir_ix_date`` for ``Appointment.start`` and ``MedicationRequest.authoredOn``,
``fhir_ix_token`` for ``Appointment.status``) and ``auth_user``. The index holds rows of
current, live versions only (an update or delete replaces or removes them); the queries
still join ``fhir_resource`` on ``deleted`` so they stay right whatever the index keeps.

Instants are compared in UTC: a date index row's ``low`` is the UTC start of the value
(``2026-12-02T00:30:00+01:00`` is ``2026-12-01 23:30`` UTC), and a range of days is the
half-open ``[from 00:00 UTC, to + 1 day 00:00 UTC)``. The UTC day of an instant is computed
by the database: ``date()`` over SQLite's naive UTC text, ``timezone('UTC', ...)::date`` on
PostgreSQL (whose ``timestamptz`` would otherwise be cast in the session's time zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.auth.schema import UserRow
from platform_core.db.schema import INDEX_TABLES, resource_table

_USERS = UserRow.__table__
_DATES = INDEX_TABLES["date"]
_TOKENS = INDEX_TABLES["token"]


@dataclass(frozen=True)
class DayRange:
    """Whole UTC days, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The first instant of the range."""
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range."""
        after = self.last + timedelta(days=1)
        return datetime(after.year, after.month, after.day, tzinfo=UTC)


@dataclass
class Metrics:
    """What ``GET /api/care_metrics`` answers."""

    days: DayRange
    patients: int
    practitioners: dict[str, int]
    appointments_by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    prescriptions_issued: int = 0

    def as_json(self) -> dict[str, Any]:
        """The API's JSON shape."""
        by_status: dict[str, int] = {}
        for statuses in self.appointments_by_day.values():
            for status, n in statuses.items():
                by_status[status] = by_status.get(status, 0) + n
        return {
            "from": self.days.first.isoformat(),
            "to": self.days.last.isoformat(),
            "patients": self.patients,
            "practitioners": self.practitioners,
            "appointments": {
                "by_status": dict(sorted(by_status.items())),
                "by_day": [
                    {"day": day, "by_status": dict(sorted(statuses.items()))}
                    for day, statuses in sorted(self.appointments_by_day.items())
                ],
            },
            "prescriptions_issued": self.prescriptions_issued,
        }


def _utc_day(conn: Connection, instant: Any) -> Any:
    """The UTC calendar day of a ``UTCDateTime`` column, computed by the database."""
    if conn.dialect.name == "postgresql":
        # A literal zone, not a bound parameter: the same expression appears in GROUP BY,
        # and two placeholders would be two different expressions to PostgreSQL.
        return sa.cast(sa.func.timezone(sa.literal_column("'UTC'"), instant), sa.Date)
    return sa.func.date(instant, type_=sa.String)


def _live(rid: Any, resource_type: str) -> Any:
    """The index row ``rid`` belongs to a current, not deleted resource of the type."""
    r = resource_table.c
    return sa.exists().where(r.rid == rid, r.resource_type == resource_type, r.deleted.is_(False))


def patient_count(conn: Connection) -> int:
    """Current, not deleted Patients."""
    r = resource_table.c
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(resource_table)
        .where(r.resource_type == "Patient", r.deleted.is_(False))
    ).scalar_one()


def practitioner_counts(conn: Connection) -> dict[str, int]:
    """Practitioner accounts: waiting for an admin's verification (active, linked to their
    Practitioner, not verified), verified (active and verified) and suspended."""
    u = _USERS.c
    active = u.status == "active"

    def count_of(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    row = conn.execute(
        sa.select(
            count_of(active & u.verified_at.is_(None) & u.fhir_user.is_not(None)).label(
                "pending_verification"
            ),
            count_of(active & u.verified_at.is_not(None)).label("verified"),
            count_of(u.status == "suspended").label("suspended"),
        ).where(u.role == "practitioner")
    ).one()
    return {
        "pending_verification": int(row.pending_verification),
        "verified": int(row.verified),
        "suspended": int(row.suspended),
    }


def appointments_by_day(conn: Connection, days: DayRange) -> dict[str, dict[str, int]]:
    """``{day: {status: count}}`` of the Appointments whose ``start`` falls in ``days``."""
    start, status = _DATES.alias("start"), _TOKENS.alias("status")
    day = _utc_day(conn, start.c.low).label("day")
    rows = conn.execute(
        sa.select(status.c.code, day, sa.func.count(sa.distinct(start.c.rid)).label("n"))
        .select_from(start)
        .join(status, status.c.rid == start.c.rid)
        .where(
            start.c.resource_type == "Appointment",
            start.c.param == "date",
            start.c.low >= days.start,
            start.c.low < days.end,
            status.c.resource_type == "Appointment",
            status.c.param == "status",
            _live(start.c.rid, "Appointment"),
        )
        .group_by(status.c.code, day)
    ).all()
    result: dict[str, dict[str, int]] = {}
    for code, on, n in rows:
        key = on.isoformat() if isinstance(on, date) else str(on)
        result.setdefault(key, {})[str(code)] = int(n)
    return result


def prescriptions_issued(conn: Connection, days: DayRange) -> int:
    """MedicationRequests whose ``authoredOn`` falls in ``days``."""
    authored = _DATES.alias("authored")
    return conn.execute(
        sa.select(sa.func.count(sa.distinct(authored.c.rid))).where(
            authored.c.resource_type == "MedicationRequest",
            authored.c.param == "authoredon",
            authored.c.low >= days.start,
            authored.c.low < days.end,
            _live(authored.c.rid, "MedicationRequest"),
        )
    ).scalar_one()


def metrics(conn: Connection, days: DayRange) -> Metrics:
    """Every number, read on one connection."""
    return Metrics(
        days=days,
        patients=patient_count(conn),
        practitioners=practitioner_counts(conn),
        appointments_by_day=appointments_by_day(conn, days),
        prescriptions_issued=prescriptions_issued(conn, days),
    )
