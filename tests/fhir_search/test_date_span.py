"""The date pre-filter (``search/date_span.py``): always implied by the exact condition, and
on PostgreSQL answered from the GiST index ``ix_fhir_ix_date_span``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from platform_core.db.schema import date_index, resource_table
from platform_core.fhir.search import date_span
from platform_core.fhir.search.sql import build_where


def at(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


def test_each_prefix_names_the_interval_its_matches_overlap():
    pl, ph = at(1980), at(1981)
    assert date_span.bounds("eq", pl, ph) == (pl, ph)
    assert date_span.bounds("ge", pl, ph) == (pl, None)
    assert date_span.bounds("gt", pl, ph) == (ph, None)
    assert date_span.bounds("lt", pl, ph) == (None, pl)
    assert date_span.bounds("le", pl, ph) == (None, ph)
    assert date_span.bounds("ne", pl, ph) is None


def test_and_ed_intervals_narrow_to_their_intersection_or_to_nothing():
    assert date_span.common([(at(1980), None), (None, at(1981))]) == (at(1980), at(1981))
    assert date_span.common([(at(1980), None), (at(1985), None)]) == (at(1985), None)
    # Disjoint: a long stored span could still meet both, so no common pre-filter.
    assert date_span.common([(None, at(1980)), (at(1985), None)]) is None


def test_the_pre_filter_is_an_overlap_on_postgresql_and_true_elsewhere():
    clause = date_span.overlaps(date_index.c.low, date_index.c.high, (at(1980), None))
    pg = str(clause.compile(dialect=postgresql.dialect()))
    assert "&& tstzrange(" in pg and "NULL, '[]')" in pg
    assert date_span.SPAN_SQL.format(low="fhir_ix_date.low", high="fhir_ix_date.high") in pg
    assert str(clause.compile(dialect=sqlite.dialect())) == "1"


@pytest.mark.parametrize(
    ("resource_type", "params"),
    [
        ("Patient", [("birthdate", "ge1980-01-01"), ("birthdate", "lt1981-01-01")]),
        ("Observation", [("date", "2020-03-01")]),
    ],
)
def test_postgresql_answers_date_criteria_from_the_span_index(app, db, fhir, resource_type, params):
    if db.dialect.name != "postgresql":
        pytest.skip("range types and GiST are PostgreSQL's")
    fhir.create({"resourceType": "Patient", "birthDate": "1980-05-05"})
    repository = app.extensions["fireside"].repository
    request = repository.parse_search(resource_type, params)
    query = sa.select(resource_table.c.rid).where(*build_where(request, repository.base_url))
    sql = str(query.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True}))
    with db.connect() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))
    assert "ix_fhir_ix_date_span" in plan, plan
