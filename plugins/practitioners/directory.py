"""The doctor directory: verified, active practitioners, found by specialty and name, with
the ratings other plugins give them.

A practitioner is listed when their application is ``verified`` *and* their account is what
:func:`platform_core.identity.care.is_verified_practitioner` asks for (an active
practitioner account, verified, linked to the Practitioner). The page query says the same in
SQL, so paging counts only listed practitioners; suspending an account (even through the
core's own admin pages) takes the practitioner out at once. Ratings come from the
``practitioner_ratings`` hook (see :mod:`plugins.practitioners.hookspecs`).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from platform_core.auth.schema import UserRow
from platform_core.fhir.errors import FhirError
from platform_core.identity.care import is_verified_practitioner
from plugins.practitioners.profile import directory_entry, fold
from plugins.practitioners.schema import VERIFIED, application_table, specialty_table
from plugins.practitioners.service import resources_of

log = logging.getLogger(__name__)

APP = application_table
SPECIALTIES = specialty_table
USERS = UserRow.__table__


def _listed() -> list[Any]:
    """The conditions of being listed (those of ``is_verified_practitioner``, in SQL)."""
    return [
        APP.c.status == VERIFIED,
        USERS.c.role == "practitioner",
        USERS.c.status == "active",
        USERS.c.verified_at.is_not(None),
        USERS.c.fhir_user == sa.literal("Practitioner/") + APP.c.practitioner_id,
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(
    core: Any, *, specialty: str | None, q: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of directory entries (by family name) and how many match in all."""
    where = _listed()
    if specialty:
        where.append(
            sa.exists().where(
                SPECIALTIES.c.practitioner_id == APP.c.practitioner_id,
                SPECIALTIES.c.code == specialty,
            )
        )
    for word in fold(q or "").split():
        where.append(APP.c.search_name.like(f"%{_escape_like(word)}%", escape="\\"))
    joined = APP.join(USERS, USERS.c.id == APP.c.user_id)
    with core.db.connect() as conn:
        rows = conn.execute(
            sa.select(APP)
            .select_from(joined)
            .where(*where)
            .order_by(APP.c.sort_name, APP.c.practitioner_id)
            .limit(limit)
            .offset(offset)
        ).all()
        total = conn.execute(
            sa.select(sa.func.count()).select_from(joined).where(*where)
        ).scalar_one()
    return _entries(core, rows), int(total)


def one(core: Any, practitioner_id: str) -> dict[str, Any] | None:
    """The entry of one listed practitioner; None when not listed."""
    with core.db.connect() as conn:
        row = conn.execute(
            sa.select(APP).where(APP.c.practitioner_id == practitioner_id, APP.c.status == VERIFIED)
        ).first()
        if row is None or not is_verified_practitioner(conn, practitioner_id):
            return None
    entries = _entries(core, [row])
    return entries[0] if entries else None


def _entries(core: Any, rows: list[Any]) -> list[dict[str, Any]]:
    entries = []
    for row in rows:
        try:
            practitioner, role = resources_of(core, row)
        except FhirError:  # deleted over FHIR REST: not listable
            log.warning("Practitioner/%s is listed but cannot be read", row.practitioner_id)
            continue
        entries.append(directory_entry(row.practitioner_id, practitioner, role))
    ratings = ratings_for(core, [e["practitioner"] for e in entries])
    for entry in entries:
        entry["rating"] = ratings.get(entry["practitioner"])
    return entries


def ratings_for(core: Any, practitioner_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The merged answers of every ``practitioner_ratings`` implementation: averages
    weighted by their counts, rounded to two decimals. Logged and empty on an error."""
    if not practitioner_ids:
        return {}
    hook = getattr(core.plugins.hook, "practitioner_ratings", None)
    if hook is None:  # pragma: no cover - the spec is added with this plugin
        return {}
    try:
        # hook: practitioner_ratings
        answers = hook(core=core, practitioner_ids=list(practitioner_ids))
    except Exception:  # documented: ratings never break the directory
        log.exception("a plugin failed in practitioner_ratings")
        return {}
    wanted = set(practitioner_ids)
    sums: dict[str, tuple[float, int]] = {}
    for answer in answers:
        for pid, rating in (answer or {}).items():
            try:
                count = int(rating["count"])
                average = float(rating["average"])
            except (KeyError, TypeError, ValueError):
                log.warning("practitioner_ratings gave a malformed rating for %s", pid)
                continue
            if pid not in wanted or count <= 0:
                continue
            total, n = sums.get(pid, (0.0, 0))
            sums[pid] = (total + average * count, n + count)
    return {pid: {"average": round(total / n, 2), "count": n} for pid, (total, n) in sums.items()}
