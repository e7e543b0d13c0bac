"""Minimal reproductions of the places where search still disagrees with R4 search.html, found
while writing the property tests in test_prop_search.py.

Each is a strict xfail: it fails today and turns into an error (XPASS) once the server is fixed,
so the mark can go (for D4 also the tolerance in test_prop_search.py). D4 is SQLite-only: on
PostgreSQL that test passes. D1-D3 (``_lastUpdated`` as a point, ``:text`` ignoring the concept
text, accents, and LIKE wildcards on SQLite) are fixed and checked strictly by the property test.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

SQLITE = "postgresql" not in os.environ.get("FIRESIDE_TEST_DATABASE_URL", "")
"""The database under test (the same rule as tests/conftest.py)."""


def ids(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def create(fhir: Any, body: str) -> str:
    """POST raw JSON (decimals as written) and return the id."""
    resource_type = body.split('"resourceType":"', 1)[1].split('"', 1)[0]
    resp = fhir.post(resource_type, raw=body.encode())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@pytest.mark.xfail(
    SQLITE, strict=True, raises=AssertionError, reason="D4: SQLite compares numbers as doubles"
)
def test_quantity_comparisons_are_exact(fhir):
    """The stored 1.45 is its range's middle, (1.445 + 1.455) / 2, which in binary floating
    point is 1.4500000000000002: on SQLite ``le1.45`` misses it and ``gt1.45`` finds it."""
    obs = create(
        fhir,
        '{"resourceType":"Observation","status":"final","code":{"text":"w"},'
        '"valueQuantity":{"value":1.45,"unit":"kg"}}',
    )
    assert ids(fhir.get("Observation?value-quantity=le1.45")) == {obs}
    assert ids(fhir.get("Observation?value-quantity=gt1.45")) == set()


@pytest.mark.parametrize(
    "element",
    ['"birthDate":"9999-12-31"', '"deceasedDateTime":"0001-01-01T00:00:00+14:00"'],
)
def test_dates_at_the_ends_of_the_calendar_can_be_stored(fhir, element):
    """Valid R4 dates whose range reaches past year 9999 or before year 1 in UTC are stored and
    indexed (the range is clamped to the calendar Python can represent)."""
    create(fhir, '{"resourceType":"Patient",' + element + "}")


def test_the_year_9999_can_be_searched(fhir):
    """``birthdate=9999`` is a valid search: its range ends at the last instant of year 9999."""
    assert ids(fhir.get("Patient?birthdate=9999")) == set()


@pytest.mark.xfail(
    strict=True, raises=AssertionError, reason="D6: 1e2 is taken as [50, 150), R4 says 95 ... 105"
)
def test_exponent_precision_follows_the_spec_example(fhir):
    """R4 search.html (number): "[parameter]=1e2 ... values in the range 95 ... 105". The
    server derives half a unit of the exponent (1e2: +-50), so 60 matches. (The spec's own
    example is arguably off: one significant figure of 100 is +-50; worth a decision.)"""
    create(
        fhir,
        '{"resourceType":"Observation","status":"final","code":{"text":"w"},'
        '"valueQuantity":{"value":60,"unit":"kg"}}',
    )
    assert ids(fhir.get("Observation?value-quantity=1e2")) == set()
