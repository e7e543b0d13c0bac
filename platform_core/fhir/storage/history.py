"""History queries: versions newest first, paged by keyset.

The cursor is the (lastUpdated, rid, versionId) of the last entry served, so pages stay
stable while other clients write (new versions only ever appear before page one).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.schema import resource_table, version_table
from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.storage.records import StoredResource

V = version_table.c


def encode_cursor(entry: StoredResource) -> str:
    """An opaque cursor pointing after ``entry``."""
    text = f"{entry.last_updated.timestamp():.6f}|{entry.rid}|{entry.version_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int, int]:
    """The position a cursor points after; 400 if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, rid, vid = base64.urlsafe_b64decode(padded).decode().split("|")
        return datetime.fromtimestamp(float(ts), UTC), int(rid), int(vid)
    except (ValueError, UnicodeDecodeError):
        raise FhirError.of(
            400, error_codes.INVALID_PARAMETER, "Invalid paging cursor", "_cursor"
        ) from None


def page(
    conn: Connection,
    resource_type: str | None,
    resource_id: str | None,
    *,
    since: datetime | None,
    at: tuple[datetime, datetime] | None,
    count: int,
    cursor: str | None,
    reach: Any = None,
) -> tuple[list[StoredResource], str | None]:
    """One page of history at instance, type or system level. ``reach``, a condition on the
    current-resource table, keeps only the versions of resources the caller reaches."""
    conds = []
    if reach is not None:
        conds.append(V.rid.in_(sa.select(resource_table.c.rid).where(reach)))
    if resource_type:
        conds.append(V.resource_type == resource_type)
    if resource_id:
        conds.append(V.id == resource_id)
    if since is not None:
        conds.append(V.last_updated >= since)
    if at is not None:
        low, high = at
        # A version was current during [low, high) if it started before high and the next
        # version (if any) started after low.
        later = version_table.alias("later")
        next_start = (
            sa.select(sa.func.min(later.c.last_updated))
            .where(later.c.rid == V.rid, later.c.version_id > V.version_id)
            .scalar_subquery()
        )
        conds.append(V.last_updated < high)
        conds.append(sa.or_(next_start.is_(None), next_start > low))
    if cursor:
        ts, rid, vid = decode_cursor(cursor)
        conds.append(
            sa.or_(
                V.last_updated < ts,
                sa.and_(V.last_updated == ts, V.rid < rid),
                sa.and_(V.last_updated == ts, V.rid == rid, V.version_id < vid),
            )
        )
    stmt = (
        sa.select(
            V.rid,
            V.resource_type,
            V.id,
            V.version_id,
            V.last_updated,
            V.deleted,
            V.content,
            V.method,
        )
        .where(*conds)
        .order_by(V.last_updated.desc(), V.rid.desc(), V.version_id.desc())
        .limit(count + 1)
    )
    rows = conn.execute(stmt).all()
    entries = [StoredResource(*row) for row in rows[:count]]
    next_cursor = encode_cursor(entries[-1]) if len(rows) > count and entries else None
    return entries, next_cursor
