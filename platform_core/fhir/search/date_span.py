"""A range pre-filter that lets PostgreSQL answer date criteria from a GiST index.

The exact date conditions (``clauses.range_condition``) are ORs over the stored ``low`` and
``high`` with NULL for an open end, so a B-tree can only narrow them by the parameter, and a
search such as ``birthdate=ge1980-01-01&birthdate=lt1981-01-01`` filtered every birthdate
(24 ms of execution at 100k patients; a one-day ``Observation?date=`` 89 ms). Every prefix
but ``ne`` implies that the stored range overlaps an interval the search value gives (``ge
X``: some part of it lies at or after the start of X). So each such condition is AND-ed with
``span && tstzrange(from, to, '[]')``, which the index ``ix_fhir_ix_date_span`` (btree_gist on
``(resource_type, param, span)``, migration 0013) answers with a range scan; the exact
condition then decides. Open ends stay NULL: ``tstzrange`` reads a NULL bound as infinite,
which is what an open end means.

The span orders the two bounds, so that a malformed range (a Period whose start is after
its end) neither fails the index nor goes missing: the pre-filter only ever admits more
rows than the exact condition keeps. SQLite has no range types; there the pre-filter is
``1`` (true) and the exact condition works alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

from platform_core.db.types import UTCDateTime

SPAN_SQL = (
    "tstzrange(CASE WHEN {low} > {high} THEN {high} ELSE {low} END, "
    "CASE WHEN {low} > {high} THEN {low} ELSE {high} END, '[]')"
)
"""The indexed span of a ``fhir_ix_date`` row; the migration's index and the query must
spell the same expression for PostgreSQL to match them."""


class SpanOverlaps(FunctionElement[bool]):
    """``span(low, high) && [start, end]`` on PostgreSQL (a NULL bound is open); ``1``
    elsewhere. Arguments: the low and high columns, then the two bounds."""

    type = sa.Boolean()
    inherit_cache = True
    name = "fireside_span_overlaps"


@compiles(SpanOverlaps)
def _always(element: SpanOverlaps, compiler: Any, **kw: Any) -> str:
    return "1"


@compiles(SpanOverlaps, "postgresql")
def _overlaps_pg(element: SpanOverlaps, compiler: Any, **kw: Any) -> str:
    low, high, start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"{SPAN_SQL.format(low=low, high=high)} && tstzrange({start}, {end}, '[]')"


Bounds = tuple[datetime | None, datetime | None]
"""A closed interval ``[start, end]``; None is an open end."""


def bounds(prefix: str, pl: datetime, ph: datetime) -> Bounds | None:
    """The interval the stored span must overlap for ``prefix`` to hold against the search
    range ``[pl, ph)``; None for ``ne`` (whose matches lie anywhere)."""
    return {
        "eq": (pl, ph),
        "ap": (pl, ph),
        "gt": (ph, None),
        "sa": (ph, None),
        "ge": (pl, None),
        "lt": (None, pl),
        "eb": (None, pl),
        "le": (None, ph),
    }.get(prefix)


def common(intervals: list[Bounds]) -> Bounds | None:
    """The intersection of ``intervals``, None when it is empty.

    For AND-ed criteria on a single-valued parameter: one stored span that overlaps each of
    several intervals which share a point also overlaps their intersection (Helly's theorem
    on the line), so ``birthdate=ge1980&birthdate=lt1981`` narrows by ``[1980, 1981]`` in
    one index condition, which the planner rightly finds selective (each half alone is not).
    """
    starts = [start for start, _ in intervals if start is not None]
    ends = [end for _, end in intervals if end is not None]
    start = max(starts) if starts else None
    end = min(ends) if ends else None
    if start is not None and end is not None and start > end:
        return None
    return start, end


def overlaps(low_col: Any, high_col: Any, interval: Bounds) -> Any:
    """The pre-filter: the stored span overlaps ``interval``."""
    start, end = (_bound(b) for b in interval)
    return SpanOverlaps(low_col, high_col, start, end)


def _bound(end: Any) -> Any:
    """An interval end as SQL: NULL when open; a bind parameter passes through."""
    if end is None:
        return sa.null()
    return end if isinstance(end, BindParameter) else sa.literal(end, UTCDateTime)
