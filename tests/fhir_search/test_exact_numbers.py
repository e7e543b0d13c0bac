"""Numbers and quantities compare exactly, with the same answers on SQLite and PostgreSQL (D4):
big and very precise decimals, the edges of the ``eq`` interval, sorting and paging, and the
migration that turned SQLite's stored doubles into exact keys."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from platform_core.db.migrate import downgrade, upgrade
from platform_core.db.types import decimal_from_key, decimal_key

BIG = "12345678901234567890.123456789"
TINY = "0.000000000000000000123"


def ids(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def quantity(fhir: Any, value: str) -> str:
    """An Observation whose valueQuantity is ``value`` exactly as written."""
    body = (
        '{"resourceType":"Observation","status":"final","code":{"coding":[{"system":'
        '"http://loinc.org","code":"29463-7"}]},"valueQuantity":{"value":' + value + ","
        '"system":"http://unitsofmeasure.org","code":"kg"}}'
    )
    resp = fhir.post("Observation", raw=body.encode())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def probability(fhir: Any, value: str) -> str:
    """A RiskAssessment whose prediction probability (a number parameter) is ``value``."""
    body = (
        '{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/p"},'
        '"prediction":[{"probabilityDecimal":' + value + "}]}"
    )
    resp = fhir.post("RiskAssessment", raw=body.encode())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def names(fhir: Any, made: dict[str, str], query: str) -> set[str]:
    by_id = {v: k for k, v in made.items()}
    return {by_id[i] for i in ids(fhir.get(query))}


def test_big_and_precise_quantities(fhir):
    made = {v: quantity(fhir, v) for v in (BIG, TINY, "12345678901234567890.123456790")}
    q = "Observation?value-quantity="
    assert names(fhir, made, q + BIG) == {BIG}
    assert names(fhir, made, q + "gt12345678901234567890.123456788") == {
        BIG,
        "12345678901234567890.123456790",
    }
    assert names(fhir, made, q + "gt" + BIG) == {"12345678901234567890.123456790"}
    assert names(fhir, made, q + "le" + BIG) == {BIG, TINY}
    assert names(fhir, made, q + TINY) == {TINY}
    assert names(fhir, made, q + "0.000000000000000000124") == set()
    assert names(fhir, made, q + "gt0.000000000000000000122") == set(made)
    assert names(fhir, made, q + "lt0.000000000000000000124") == {TINY}
    assert names(fhir, made, q + f"{BIG}|http://unitsofmeasure.org|kg") == {BIG}


@pytest.mark.parametrize(
    ("stored", "eq_100"),
    [
        ("99.5", True),  # the interval [99.5, 100.5) includes its low end
        ("100.5", False),  # and excludes its high end
        ("99.49999999999999999999", False),
        ("100.49999999999999999999", True),
        ("99.50000000000000000001", True),
    ],
)
def test_the_edges_of_the_eq_interval(fhir, stored, eq_100):
    oid = probability(fhir, stored)
    assert (oid in ids(fhir.get("RiskAssessment?probability=100"))) is eq_100
    assert (oid in ids(fhir.get("RiskAssessment?probability=ne100"))) is not eq_100
    assert oid in ids(fhir.get(f"RiskAssessment?probability={stored}"))
    assert oid in ids(fhir.get(f"RiskAssessment?probability=ge{stored}"))
    assert oid in ids(fhir.get(f"RiskAssessment?probability=le{stored}"))
    assert oid not in ids(fhir.get(f"RiskAssessment?probability=gt{stored}"))
    assert oid not in ids(fhir.get(f"RiskAssessment?probability=lt{stored}"))


def test_ap_is_ten_percent_exactly(fhir):
    made = {v: probability(fhir, v) for v in ("90", "89.99999999999999999", "110", "110.0000001")}
    assert names(fhir, made, "RiskAssessment?probability=ap100") == {"90", "110"}


def test_sorting_and_paging_keep_tiny_differences(fhir):
    values = [
        "1.00000000000000000003",
        "1.00000000000000000001",
        "-1e-30",
        "1.00000000000000000002",
    ]
    made = {v: probability(fhir, v) for v in values}
    order: list[str] = []
    url = "RiskAssessment?_sort=-probability&_count=1"
    by_id = {v: k for k, v in made.items()}
    while url:
        bundle = fhir.get(url).get_json()
        order += [by_id[e["resource"]["id"]] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else None
    assert order == sorted(values, key=Decimal, reverse=True)


def test_composite_quantities_are_exact(fhir):
    oid = quantity(fhir, "1.45")
    query = "Observation?code-value-quantity=http://loinc.org|29463-7$"
    assert ids(fhir.get(query + "le1.45")) == {oid}
    assert ids(fhir.get(query + "gt1.45")) == set()
    assert ids(fhir.get(query + "1.45")) == {oid}


def test_keys_sort_like_the_numbers():
    values = [Decimal(v) for v in ("-1e5", "-2.5", "-2.45", "-0.001", "0", "1e-30", "0.5", BIG)]
    assert sorted(values, key=decimal_key) == values
    assert all(decimal_from_key(decimal_key(v)) == v for v in values)
    assert decimal_key(Decimal("1.50")) == decimal_key(Decimal("1.5"))


def test_the_migration_turns_sqlite_doubles_into_keys(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        upgrade(engine, "0011")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO fhir_resource (rid, resource_type, id, version_id, last_updated,"
                " deleted, content) VALUES (1, 'RiskAssessment', 'r', 1, '2026-01-01', 0, '{}')"
            )
            conn.exec_driver_sql(
                "INSERT INTO fhir_ix_number (rid, resource_type, param, low, high)"
                " VALUES (1, 'RiskAssessment', 'probability', 1.445, 1.455)"
            )
        upgrade(engine, "0012")
        with engine.connect() as conn:
            low, high, kind = conn.exec_driver_sql(
                "SELECT low, high, typeof(low) FROM fhir_ix_number"
            ).one()
        assert kind == "text"
        assert (decimal_from_key(low), decimal_from_key(high)) == (
            Decimal("1.445"),
            Decimal("1.455"),
        )
        downgrade(engine, "0011")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT low FROM fhir_ix_number").scalar_one() == 1.445
    finally:
        engine.dispose()
