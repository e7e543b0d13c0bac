"""SQL for a parsed search: resource rows narrowed by index-table subqueries.

Results are ordered by the resource's surrogate key and paged by keyset (``rid > cursor``),
so a deep page costs what the first does and concurrent writes never shift a page.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.schema import resource_table
from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.search import sorting
from platform_core.fhir.search.clauses import criterion_clause
from platform_core.fhir.search.compartment import membership_clause
from platform_core.fhir.search.model import SearchRequest
from platform_core.fhir.storage.records import StoredResource

R = resource_table.c


def build_where(request: SearchRequest, base_url: str) -> list[Any]:
    """The WHERE conditions of a search (without paging)."""
    if request.resource_type == "*":
        conds: list[Any] = [R.resource_type.in_(request.types), R.deleted.is_(False)]
    else:
        conds = [R.resource_type == request.resource_type, R.deleted.is_(False)]
    if request.compartment is not None:
        types = request.types if request.resource_type == "*" else [request.resource_type]
        conds.append(membership_clause(resource_table, types, request.compartment[1]))
    if request.since is not None:
        conds.append(R.last_updated >= request.since)
    for criterion in request.criteria:
        conds.append(criterion_clause(criterion, request.resource_type, base_url))
    return conds


def run_search(
    conn: Connection, request: SearchRequest, base_url: str, *, limit: int | None = None
) -> tuple[list[StoredResource], str | None]:
    """One page of matches and the cursor of the next page (None on the last page)."""
    conds = build_where(request, base_url)
    size = request.count if limit is None else limit
    columns = [R.rid, R.resource_type, R.id, R.version_id, R.last_updated, R.deleted, R.content]
    if not request.sort:
        if request.cursor is not None:
            conds.append(R.rid > _int_cursor(request.cursor))
        stmt = sa.select(*columns).where(*conds).order_by(R.rid).limit(size + 1)
        rows = conn.execute(stmt).all()
        page = [StoredResource(*row) for row in rows[:size]]
        more = len(rows) > size and page
        return page, str(page[-1].rid) if more else None
    keys = [
        (sorting.sort_expression(request.resource_type, param, desc), desc)
        for param, desc in request.sort
    ]
    if request.cursor is not None:
        values, rid = sorting.decode_cursor(request.cursor, len(keys))
        conds.append(sorting.after(keys, values, rid))
    labelled = [expr.label(f"sort_{i}") for i, (expr, _) in enumerate(keys)]
    stmt = (
        sa.select(*columns, *labelled)
        .where(*conds)
        .order_by(*sorting.order_by(keys))
        .limit(size + 1)
    )
    rows = conn.execute(stmt).all()
    page = [StoredResource(*row[:7]) for row in rows[:size]]
    if len(rows) > size and page:
        last = rows[size - 1]
        return page, sorting.encode_cursor(list(last[7:]), last[0])
    return page, None


def _int_cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise FhirError.of(
            400, error_codes.INVALID_SEARCH_VALUE, "Invalid paging cursor", "_cursor"
        ) from None


def count_matches(conn: Connection, request: SearchRequest, base_url: str) -> int:
    """How many resources match (for ``_total=accurate`` and ``_summary=count``)."""
    conds = build_where(request, base_url)
    return conn.execute(
        sa.select(sa.func.count()).select_from(resource_table).where(*conds)
    ).scalar_one()
