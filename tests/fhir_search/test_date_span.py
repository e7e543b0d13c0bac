"""The date pre-filter (``search/date_span.py``): always implied by the exact condition; on
PostgreSQL narrow spans are answered by their ``low`` window on the B-tree and the others
from the partial GiST index ``ix_fhir_ix_date_span_wide``, and together the two parts find
exactly what the exact condition alone finds, for every prefix, at the narrow/wide border
too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from platform_core.db.schema import date_index, resource_table
from platform_core.fhir.context import RequestContext
from platform_core.fhir.search import date_span
from platform_core.fhir.search.clauses import (
    alias,
    date_condition_exact,
    matching_rids,
    matching_rids_all,
)
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
    assert "ix_fhir_ix_date_span_wide" in plan, plan  # the wide rows
    assert "Seq Scan on fhir_ix_date" not in plan, plan  # the narrow ones: a B-tree


def test_narrow_and_wide_partition_every_row_and_only_postgresql_splits():
    narrow = date_span.narrow(date_index.c.low, date_index.c.high)
    wide = date_span.wide(date_index.c.low, date_index.c.high)
    window = date_span.narrow_window(date_index.c.low, (at(1980), at(1981)))
    pg = [str(e.compile(dialect=postgresql.dialect())) for e in (narrow, wide, window)]
    assert pg[1] == pg[0] + " IS NOT TRUE"  # NULL ends and reversed spans are wide
    assert "interval '24:00:00'" in pg[2]
    lite = [str(e.compile(dialect=sqlite.dialect())) for e in (narrow, wide, window)]
    assert lite == ["1", "0", "1"]  # SQLite: one part with every row


# Observations whose spans sit on either side of the narrow/wide border (24 hours), open at
# either end, or coarse (a year, a month).
BORDER_SPANS: dict[str, dict[str, object]] = {
    "day": {"effectiveDateTime": "2020-03-01"},  # exactly 24 h: narrow
    "second": {"effectiveDateTime": "2020-03-01T23:59:59Z"},
    "day-period": {
        "effectivePeriod": {"start": "2020-03-01T00:00:00Z", "end": "2020-03-01T23:59:59Z"}
    },
    "day-and-a-second": {
        "effectivePeriod": {"start": "2020-02-29T23:59:59Z", "end": "2020-03-01T23:59:59Z"}
    },
    "week": {"effectivePeriod": {"start": "2020-02-26", "end": "2020-03-03"}},
    "from": {"effectivePeriod": {"start": "2020-03-02T12:00:00+05:00"}},
    "until": {"effectivePeriod": {"end": "2020-02-28T08:00:00-03:00"}},
    "month": {"effectiveDateTime": "2020-03"},
    "year": {"effectiveDateTime": "2019"},
}
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
VALUES = ("2020-02-29", "2020-03-01", "2020-03-02", "2020-03-01T12:00:00Z", "2020-03", "2019")


def test_both_parts_together_find_what_the_exact_condition_finds(app, db, fhir):
    made = {}
    for label, effective in BORDER_SPANS.items():
        body = {"resourceType": "Observation", "status": "final", "code": {"text": label}}
        made[fhir.create({**body, **effective})["id"]] = label
    repository = app.extensions["fireside"].repository
    table = alias(date_index)
    by_rid = sa.select(resource_table.c.rid, resource_table.c.id).where(
        resource_table.c.resource_type == "Observation"
    )
    with db.connect() as conn:
        label_of = {rid: made[rid_id] for rid, rid_id in conn.execute(by_rid)}
    checked = 0
    for prefix in PREFIXES:
        for value in VALUES:
            request = repository.parse_search("Observation", [("date", prefix + value)])
            exact = sa.select(table.c.rid).where(
                table.c.resource_type == "Observation",
                table.c.param == "date",
                date_condition_exact(request.criteria[0], table.c),
            )
            found = repository.search(RequestContext.system(), request).matches
            with db.connect() as conn:
                expected = {label_of[rid] for (rid,) in conn.execute(exact)}
            assert {made[m.id] for m in found} == expected, (prefix, value)
            checked += bool(expected)
    assert checked > len(PREFIXES)  # most searches find something


def _lookup_sql(repository: Any, params: list[tuple[str, str]]) -> str:
    request = repository.parse_search("Observation", params)
    if len(request.criteria) == 1:
        lookup = matching_rids(request.criteria[0], "Observation", repository.base_url)
    else:
        lookup = matching_rids_all(request.criteria, "Observation", repository.base_url)
    return str(lookup.compile(dialect=postgresql.dialect()))


def test_only_bounded_intervals_of_at_most_a_year_are_split(app):
    repository = app.extensions["fireside"].repository
    split = [
        [("date", "2020-03-01")],
        [("date", "2019")],
        [("date", "ge2019-01-01"), ("date", "lt2020-01-01")],
    ]
    single = [  # open or longer: one overlap, so PostgreSQL may walk the rid index instead
        [("date", "ge2019-01-01")],
        [("date", "lt2019-01-01")],
        [("date", "ne2019")],
        [("date", "ge2019-01-01"), ("date", "lt2021-01-01")],
    ]
    for params in split:
        assert "UNION ALL" in _lookup_sql(repository, params), params
    for params in single:
        assert "UNION ALL" not in _lookup_sql(repository, params), params


def test_a_year_and_a_decade_of_one_shape_each_find_what_the_exact_condition_finds(app, db, fhir):
    made = {}
    for label, effective in BORDER_SPANS.items():
        body = {"resourceType": "Observation", "status": "final", "code": {"text": label}}
        made[fhir.create({**body, **effective})["id"]] = label
    # The same shape (ge and lt, both dates): the first builds the template of the split
    # form, the second must not run from it.
    for low, high in (("2020-01-01", "2020-12-31"), ("2015-01-01", "2025-01-01")):
        bundle = fhir.get(f"Observation?date=ge{low}&date=lt{high}").get_json()
        found = {made[e["resource"]["id"]] for e in bundle.get("entry", [])}
        expected = {"day", "second", "day-period", "day-and-a-second", "week", "from", "until"}
        expected |= {"month"} | ({"year"} if low < "2020" else set())
        assert found == expected, (low, high)


def test_a_split_page_runs_prepared_on_one_generic_plan_and_others_are_not_prepared(app, db, fhir):
    if db.dialect.name != "postgresql":
        pytest.skip("server-side prepared statements are PostgreSQL's")
    for year in (1970, 1980):
        fhir.create({"resourceType": "Patient", "birthDate": f"{year}-05-05"})
    repository = app.extensions["fireside"].repository
    for year in range(1965, 1985):  # more runs than PostgreSQL's five custom plans
        found = fhir.get(f"Patient?birthdate=ge{year}-01-01&birthdate=lt{year + 1}-01-01")
        expected = 1 if year in (1970, 1980) else 0
        assert len(found.get_json().get("entry", [])) == expected, year
    fhir.get("Patient?birthdate=ge1900-01-01")  # open: not split, so not prepared
    fhir.get("Patient?name=smith")  # a string lookup's best plan depends on the value
    sql = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    with repository.read_engine.connect() as conn:
        searches = [row for row in conn.exec_driver_sql(sql) if "fhir_resource.rid" in row[0]]
    # Only split date pages are prepared (earlier tests may have left others of that kind),
    # each on its generic plan from the first run (left to itself PostgreSQL would make five
    # custom plans first). The pool spreads the searches over its connections; this is one.
    assert searches and all("UNION ALL" in s and "fhir_ix_date" in s for s, _, _ in searches)
    assert all(custom == 0 for _, _, custom in searches)
    assert sum(generic for _, generic, _ in searches) >= 1


def test_a_split_date_page_built_for_a_system_caller_leaks_nothing(app, fhir, fhir_as):
    """The prepared page path serves only callers with no access filter: a patient's
    token searching the same year sees only its own Patient, anonymous callers get 401."""
    mine = fhir.create({"resourceType": "Patient", "birthDate": "1980-05-05"})["id"]
    other = fhir.create({"resourceType": "Patient", "birthDate": "1980-06-06"})["id"]
    year = "Patient?birthdate=ge1980-01-01&birthdate=lt1981-01-01"
    for _ in range(3):  # the system caller's searches build (and prepare) the page
        everyone = [e["resource"]["id"] for e in fhir.get(year).get_json()["entry"]]
        assert sorted(everyone) == sorted([mine, other])
    patient = fhir_as("patient/*.rs", patient=mine)
    found = patient.get(year).get_json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [mine]
    assert other not in str(found)
    anonymous = app.test_client().get(f"/fhir/{year}")
    assert anonymous.status_code == 401
    assert "entry" not in (anonymous.get_json() or {})


def test_a_bad_date_in_a_split_shape_is_a_400_and_writes_nothing(app, db, fhir):
    fhir.get("Patient?birthdate=ge1980-01-01&birthdate=lt1981-01-01")  # the shape's template
    patients = sa.select(sa.func.count()).where(resource_table.c.resource_type == "Patient")
    with db.connect() as conn:
        before = conn.execute(patients).scalar()
    resp = fhir.get("Patient?birthdate=ge1980-13-01&birthdate=lt1981-01-01")
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert "birthdate" in str(body)
    with db.connect() as conn:
        after = conn.execute(patients).scalar()
    assert after == before
