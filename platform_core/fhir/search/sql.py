"""SQL for a parsed search: resource rows narrowed by index-table subqueries.

Results are ordered by the resource's surrogate key and paged by keyset (``rid > cursor``),
so a deep page costs what the first does and concurrent writes never shift a page.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.schema import reference_index, resource_table, token_index
from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import date_range
from platform_core.fhir.search.model import Criterion, SearchRequest
from platform_core.fhir.storage.records import StoredResource

R = resource_table.c
_DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def _token_clause(criterion: Criterion, resource_type: str) -> Any:
    t = token_index.c
    ors = []
    for value in criterion.values:
        if "|" in value:
            system, _, code = value.partition("|")
            if system and code:
                ors.append(sa.and_(t.system == system, t.code == code))
            elif system:
                ors.append(t.system == system)
            else:
                ors.append(sa.and_(t.system.is_(None), t.code == code))
        else:
            ors.append(t.code == _unescape(value))
    sub = sa.select(t.rid).where(
        t.resource_type == resource_type, t.param == criterion.param.code, sa.or_(*ors)
    )
    return R.rid.in_(sub)


def _reference_clause(criterion: Criterion, resource_type: str, base_url: str) -> Any:
    t = reference_index.c
    ors = []
    for value in criterion.values:
        ref = value[len(base_url) + 1 :] if value.startswith(base_url + "/") else value
        parts = ref.split("/")
        if "://" in ref:
            ors.append(t.url == value)
        elif len(parts) >= 2:
            ors.append(sa.and_(t.target_type == parts[0], t.target_id == parts[1]))
        else:
            ors.append(t.target_id == ref)
    sub = sa.select(t.rid).where(
        t.resource_type == resource_type, t.param == criterion.param.code, sa.or_(*ors)
    )
    return R.rid.in_(sub)


def _last_updated_clause(criterion: Criterion) -> Any:
    ors = []
    for value in criterion.values:
        prefix = value[:2] if value[:2] in _DATE_PREFIXES else "eq"
        text = value[2:] if value[:2] in _DATE_PREFIXES else value
        rng = date_range(text)
        if rng is None:
            raise FhirError.of(
                400,
                error_codes.INVALID_SEARCH_VALUE,
                f"{criterion.raw_name}: {value!r} is not a valid date",
                criterion.raw_name,
            )
        low, high = rng
        col = R.last_updated
        ors.append(
            {
                "eq": sa.and_(col >= low, col < high),
                "ap": sa.and_(col >= low, col < high),
                "ne": sa.or_(col < low, col >= high),
                "gt": col >= high,
                "sa": col >= high,
                "ge": col >= low,
                "lt": col < low,
                "eb": col < low,
                "le": col < high,
            }[prefix]
        )
    return sa.or_(*ors)


def _unescape(value: str) -> str:
    return value.replace("\\|", "|").replace("\\$", "$")


def build_where(request: SearchRequest, base_url: str) -> list[Any]:
    """The WHERE conditions of a search (without paging)."""
    conds: list[Any] = [R.resource_type == request.resource_type, R.deleted.is_(False)]
    for criterion in request.criteria:
        code = criterion.param.code
        if code == "_id":
            conds.append(R.id.in_([_unescape(v) for v in criterion.values]))
        elif code == "_lastUpdated":
            conds.append(_last_updated_clause(criterion))
        elif criterion.param.type == "token":
            conds.append(_token_clause(criterion, request.resource_type))
        elif criterion.param.type == "reference":
            conds.append(_reference_clause(criterion, request.resource_type, base_url))
    return conds


def run_search(
    conn: Connection, request: SearchRequest, base_url: str, *, limit: int | None = None
) -> tuple[list[StoredResource], int | None]:
    """One page of matches and the cursor of the next page (None on the last page)."""
    conds = build_where(request, base_url)
    if request.cursor is not None:
        conds.append(R.rid > request.cursor)
    size = request.count if limit is None else limit
    stmt = (
        sa.select(R.rid, R.resource_type, R.id, R.version_id, R.last_updated, R.deleted, R.content)
        .where(*conds)
        .order_by(R.rid)
        .limit(size + 1)
    )
    rows = conn.execute(stmt).all()
    page = [StoredResource(*row) for row in rows[:size]]
    next_cursor = page[-1].rid if len(rows) > size and page else None
    return page, next_cursor


def count_matches(conn: Connection, request: SearchRequest, base_url: str) -> int:
    """How many resources match (for ``_total=accurate`` and ``_summary=count``)."""
    conds = build_where(request, base_url)
    return conn.execute(
        sa.select(sa.func.count()).select_from(resource_table).where(*conds)
    ).scalar_one()
