"""SQL for a parsed search: resource rows narrowed by index-table subqueries.

Results are ordered by the resource's surrogate key and paged by keyset (``rid > cursor``),
so a deep page costs what the first does and concurrent writes never shift a page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.prepared import is_prepared, prepared
from platform_core.db.schema import resource_table
from platform_core.fhir.search import registry, sorting
from platform_core.fhir.search.clauses import (
    chained_rids,
    criterion_clause,
    is_plain,
    matching_rids,
    matching_rids_all,
)
from platform_core.fhir.search.compartment import membership_clause
from platform_core.fhir.search.model import Criterion, SearchRequest
from platform_core.fhir.search.slots import slot
from platform_core.fhir.search.statement_cache import TEMPLATES, criterion_parts, group_parts
from platform_core.fhir.storage.records import StoredResource

R = resource_table.c


def build_where(request: SearchRequest, base_url: str) -> list[Any]:
    """The WHERE conditions of a search (without paging)."""
    if request.resource_type == "*":
        conds: list[Any] = [R.resource_type.in_(request.types), R.deleted.is_(False)]
    else:
        conds = [R.resource_type == request.resource_type, R.deleted.is_(False)]
    types = request.types if request.resource_type == "*" else [request.resource_type]
    if request.compartment is not None:
        compartment, owner = request.compartment
        conds.append(membership_clause(resource_table, types, owner, compartment))
    if request.access is not None:
        conds.append(request.access.clause(resource_table, types))
    if request.since is not None:
        conds.append(R.last_updated >= request.since)
    merged, rest = _merge_single_valued(request)
    conds.extend(merged)
    for criterion in rest:
        conds.append(criterion_clause(criterion, request.resource_type, base_url))
    return conds


MERGEABLE = frozenset({"date", "number", "quantity"})


def _merge_single_valued(request: SearchRequest) -> tuple[list[Any], list[Any]]:
    """AND-ed range criteria on one single-valued parameter (``birthdate=ge1980&birthdate=
    lt1981``) become one index lookup with both conditions: for such a parameter "a value
    meets A and a value meets B" is "the value meets both", and one range scan replaces two
    half-table lookups (measured 975 ms -> 74 ms at a million resources)."""
    groups, rest = single_valued_groups(request)
    merged = [R.rid.in_(matching_rids_all(group, request.resource_type)) for group in groups]
    return merged, rest


def single_valued_groups(request: SearchRequest) -> tuple[list[list[Criterion]], list[Criterion]]:
    """The criteria that :func:`_merge_single_valued` merges, in groups of two or more on one
    parameter, and the others."""
    if request.resource_type == "*":
        return [], request.criteria
    groups: dict[str, list[Criterion]] = {}
    for criterion in request.criteria:
        if (
            criterion.param.type in MERGEABLE
            and is_plain(criterion)
            and criterion.modifier is None
            and registry.is_single_valued(request.resource_type, criterion.param)
        ):
            groups.setdefault(criterion.param.code, []).append(criterion)
    merged = [criteria for criteria in groups.values() if len(criteria) >= 2]
    consumed = {id(c) for criteria in merged for c in criteria}
    return merged, [c for c in request.criteria if id(c) not in consumed]


@dataclass(frozen=True)
class Page:
    """One page of matches with the cursors of its neighbours (None at either end)."""

    matches: list[StoredResource]
    next_cursor: str | None
    previous_cursor: str | None


def run_search(
    conn: Connection, request: SearchRequest, base_url: str, *, limit: int | None = None
) -> Page:
    """One page of matches, read forward (or backward from a ``previous`` cursor)."""
    size = request.count if limit is None else limit
    keys = [
        (sorting.sort_expression(request.resource_type, param, desc), desc)
        for param, desc in request.sort
    ]
    backward = False
    values: list[Any] = []
    rid: int | None = None
    if request.cursor is not None:
        values, rid, backward = sorting.decode_cursor(request.cursor, len(keys))

    def build() -> Any:
        return _page_statement(request, base_url, size, keys, values, rid, backward)

    found = None if keys else _templated(request, base_url, size, rid, backward, build)
    stmt, params = (build(), {}) if found is None else found
    rows = list(conn.execute(stmt, params).all())
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    page = [StoredResource(*row[:7]) for row in rows]
    if not rows:
        return Page(page, None, None)
    first, last = rows[0], rows[-1]
    has_next = more if not backward else True
    has_previous = more if backward else request.cursor is not None
    return Page(
        page,
        sorting.encode_cursor(list(last[7:]), last[0]) if has_next else None,
        sorting.encode_cursor(list(first[7:]), first[0], backward=True) if has_previous else None,
    )


COLUMNS = (R.rid, R.resource_type, R.id, R.version_id, R.last_updated, R.deleted, R.content)
"""What a page reads of each match (:class:`StoredResource`), then its sort values."""


def _page_statement(
    request: SearchRequest,
    base_url: str,
    size: int,
    keys: list[tuple[Any, bool]],
    values: list[Any],
    rid: int | None,
    backward: bool,
) -> Any:
    decided = None if keys else page_from_index(request, base_url, size, rid, backward)
    if decided is None:
        conds = build_where(request, base_url)
    else:
        conds = [*build_where(replace(request, criteria=[]), base_url), R.rid.in_(decided)]
    if rid is not None:
        at = slot(rid)
        conds.append(
            sorting.before(keys, values, at) if backward else sorting.after(keys, values, at)
        )
    labelled = [expr.label(f"sort_{i}") for i, (expr, _) in enumerate(keys)]
    statement = (
        sa.select(*COLUMNS, *labelled)
        .where(*conds)
        .order_by(*sorting.order_by(keys, backward=backward))
        .limit(size + 1)
    )
    # A page read from a lookup whose plan does not depend on its values is planned once;
    # the rows of the page are then key lookups, whatever the values.
    return prepared(statement) if decided is not None and is_prepared(decided) else statement


def _templated(
    request: SearchRequest,
    base_url: str,
    size: int,
    rid: int | None,
    backward: bool,
    build: Callable[[], Any],
) -> tuple[Any, dict[str, Any]] | None:
    """The statement of an unsorted search from its shape's template, with its bind values;
    None when the search must be built afresh (see :mod:`.statement_cache`)."""
    if request.compartment is not None or request.access is not None or request.since is not None:
        return None
    if request.resource_type == "*":
        return None
    lookup = index_lookup(request)
    if lookup is not None:
        parts = _lookup_parts(lookup, base_url)
        cursors = 2  # the page's lookup and the outer query both start after the cursor
    else:
        parts = _where_parts(request, base_url)
        cursors = 1
    if parts is None:
        return None
    shape, values = parts
    if rid is not None:
        values = [*values, *[rid] * cursors]
    key = (request.resource_type, size + 1, None if rid is None else backward, shape)
    template = TEMPLATES.get(key, values, build)
    return None if template is None else (template.statement, template.params(values))


def _lookup_parts(lookup: IndexLookup, base_url: str) -> Any:
    if lookup.kind == "group":
        parts = group_parts(lookup.criteria)
    else:
        parts = criterion_parts(lookup.criteria[0], base_url)
    return None if parts is None else (("page", lookup.kind, parts[0]), parts[1])


def _where_parts(request: SearchRequest, base_url: str) -> Any:
    """The parts of a search built by :func:`build_where`, in its order: merged groups,
    then the other criteria."""
    groups, rest = single_valued_groups(request)
    shapes = []
    values: list[Any] = []
    for found in [*(group_parts(g) for g in groups), *(criterion_parts(c, base_url) for c in rest)]:
        if found is None:
            return None
        shapes.append(found[0])
        values.extend(found[1])
    return ("where", tuple(shapes)), values


@dataclass(frozen=True)
class IndexLookup:
    """A search that one index lookup decides: ``chain`` (one chained criterion), ``one``
    (one plain criterion) or ``group`` (AND-ed criteria on one single-valued parameter)."""

    kind: str
    criteria: list[Criterion]


def index_lookup(request: SearchRequest) -> IndexLookup | None:
    """How one index lookup decides the search in ``rid`` order, with nothing else narrowing
    it; None for any other search."""
    if (
        request.resource_type == "*"
        or request.compartment is not None
        or request.access is not None
        or request.since is not None
        or not request.criteria
    ):
        return None
    only = request.criteria[0] if len(request.criteria) == 1 else None
    if only is not None and only.chain and only.has is None:
        # A chain's modifier is its target type (``subject:Patient.name``), already in
        # ``chain``.
        return IndexLookup("chain", [only])
    if not all(is_plain(c) for c in request.criteria):
        return None
    if only is not None:
        return IndexLookup("one", [only])
    groups, rest = single_valued_groups(request)
    if len(groups) != 1 or rest:
        return None
    return IndexLookup("group", groups[0])


def page_from_index(
    request: SearchRequest, base_url: str, size: int, cursor_rid: int | None, backward: bool
) -> Any | None:
    """``SELECT rid`` of one page, read from an index table alone, for a search in ``rid``
    order that :func:`index_lookup` says one lookup decides; None for any other search.

    Such a search otherwise looks up every match in ``fhir_resource`` before keeping the
    page: 1,058 lookups for a birth year at 100k patients, as many as a popular name prefix
    has matches. Index rows exist only for the current version of live resources (deletes
    remove them), so the index table's own ``rid`` order gives the same page.
    """
    lookup = index_lookup(request)
    if lookup is None:
        return None
    rtype = request.resource_type
    if lookup.kind == "chain":
        rids = chained_rids(lookup.criteria[0], rtype, base_url)
    elif lookup.kind == "one":
        rids = matching_rids(lookup.criteria[0], rtype, base_url)
    else:
        rids = matching_rids_all(lookup.criteria, rtype, base_url)
    if isinstance(rids, sa.Select):
        # Page the index lookup itself: a subquery around it would cost SQLAlchemy a proxy
        # of its column (as much as building the lookup) for the same plan.
        rid = rids.selected_columns[0]
        page = rids.distinct()
    else:  # a compound of grouped lookups (phonetic matches)
        rid = next(iter(rids.subquery().c))
        page = sa.select(rid).distinct()
    if cursor_rid is not None:
        at = slot(cursor_rid)
        page = page.where(rid < at if backward else rid > at)
    page = page.order_by(rid.desc() if backward else rid.asc()).limit(size + 1)
    return prepared(page) if is_prepared(rids) else page


def count_matches(conn: Connection, request: SearchRequest, base_url: str) -> int:
    """How many resources match (for ``_total=accurate`` and ``_summary=count``).

    A search with one plain criterion is counted in its index table alone: deleted resources
    have no index rows, so the distinct ``rid`` count is exact, and the resource table is not
    read at all (measured 0.2-0.5 s instead of 1.4-1.7 s for 500k matches).
    """
    single = (
        len(request.criteria) == 1
        and is_plain(request.criteria[0])
        and request.resource_type != "*"
        and request.compartment is None
        and request.access is None
        and request.since is None
    )
    if single:
        rids = matching_rids(request.criteria[0], request.resource_type, base_url)
        if isinstance(rids, sa.Select):
            rid = rids.selected_columns[0]
            stmt = rids.with_only_columns(sa.func.count(sa.distinct(rid)))
        else:  # a compound of grouped lookups (phonetic matches)
            found = rids.subquery()
            stmt = sa.select(sa.func.count(sa.distinct(found.c.rid)))
        return conn.execute(stmt).scalar_one()
    conds = build_where(request, base_url)
    return conn.execute(
        sa.select(sa.func.count()).select_from(resource_table).where(*conds)
    ).scalar_one()


def estimate_matches(conn: Connection, request: SearchRequest, base_url: str) -> int:
    """``_total=estimate``: PostgreSQL's planner estimate (no scan of the matches); SQLite,
    which has none, counts."""
    if conn.dialect.name != "postgresql":
        return count_matches(conn, request, base_url)
    stmt = sa.select(R.rid).where(*build_where(request, base_url))
    sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
