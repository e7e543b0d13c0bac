"""``_include`` and ``_revinclude``: the resources a page of matches refers to, or that refer
to it, found through the reference index (``:iterate`` repeats on what was added)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.schema import reference_index, resource_table
from platform_core.fhir.search.model import Include
from platform_core.fhir.storage.records import StoredResource

MAX_ITERATIONS = 4
"""How many rounds ``:iterate`` runs at most (cycles stop earlier: nothing new is found)."""
MAX_INCLUDED = 1000
"""At most this many included resources per page."""

R = resource_table.c
X = reference_index.c


def resolve_includes(
    conn: Connection, includes: list[Include], matches: list[StoredResource]
) -> list[StoredResource]:
    """The included resources for one page, without duplicates and without the matches."""
    seen = {m.rid for m in matches}
    found: list[StoredResource] = []
    frontier = list(matches)
    for round_ in range(MAX_ITERATIONS):
        active = [i for i in includes if round_ == 0 or i.iterate]
        if not active or not frontier:
            break
        new: list[StoredResource] = []
        for include in active:
            step = (
                _reverse(conn, include, frontier)
                if include.reverse
                else _forward(conn, include, frontier)
            )
            for item in step:
                if item.rid not in seen and len(found) + len(new) < MAX_INCLUDED:
                    seen.add(item.rid)
                    new.append(item)
        found += new
        frontier = new
    return found


def _forward(
    conn: Connection, include: Include, sources: list[StoredResource]
) -> list[StoredResource]:
    rids = [s.rid for s in sources if include.source_type in ("*", s.resource_type)]
    if not rids:
        return []
    conds = [X.rid.in_(rids), X.target_id.is_not(None)]
    if include.param != "*":
        conds.append(X.param == include.param)
    if include.target_type:
        conds.append(X.target_type == include.target_type)
    targets = conn.execute(sa.select(X.target_type, X.target_id).where(*conds).distinct()).all()
    return _fetch(conn, targets)


def _reverse(
    conn: Connection, include: Include, targets: list[StoredResource]
) -> list[StoredResource]:
    if include.target_type:
        targets = [t for t in targets if t.resource_type == include.target_type]
    if not targets:
        return []
    pairs = sa.or_(
        *(
            sa.and_(X.target_type == rtype, X.target_id.in_(ids))
            for rtype, ids in _by_type((t.resource_type, t.id) for t in targets).items()
        )
    )
    conds = [pairs]
    if include.source_type != "*":
        conds.append(X.resource_type == include.source_type)
    if include.param != "*":
        conds.append(X.param == include.param)
    rids = sa.select(X.rid).where(*conds)
    rows = conn.execute(
        sa.select(R.rid, R.resource_type, R.id, R.version_id, R.last_updated, R.deleted, R.content)
        .where(R.rid.in_(rids), R.deleted.is_(False))
        .order_by(R.rid)
        .limit(MAX_INCLUDED)
    ).all()
    return [StoredResource(*row) for row in rows]


def _by_type(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for rtype, rid in pairs:
        grouped.setdefault(rtype, []).append(rid)
    return grouped


def _fetch(
    conn: Connection, targets: Iterable[tuple[str | None, str | None]]
) -> list[StoredResource]:
    grouped = _by_type((t, i) for t, i in targets if t and i)
    if not grouped:
        return []
    cond = sa.or_(*(sa.and_(R.resource_type == t, R.id.in_(ids)) for t, ids in grouped.items()))
    rows = conn.execute(
        sa.select(R.rid, R.resource_type, R.id, R.version_id, R.last_updated, R.deleted, R.content)
        .where(cond, R.deleted.is_(False))
        .order_by(R.rid)
        .limit(MAX_INCLUDED)
    ).all()
    return [StoredResource(*row) for row in rows]
