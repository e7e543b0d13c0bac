"""Custom composite SearchParameters: components named by the canonical URL of other
SearchParameters (HL7's or stored here), indexed on write and by the background reindex,
searchable like the built-in composites once active."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from test_custom_parameters import ids, wait_active

from platform_core.db.schema import composite_index
from tests.conftest import outcome_codes

METHOD_URL = "https://fireside.example/SearchParameter/observation-method"
VALUE_QUANTITY = "http://hl7.org/fhir/SearchParameter/Observation-value-quantity"
COMPONENT_CODE = "http://hl7.org/fhir/SearchParameter/Observation-component-code"
VALUE_CONCEPT = "http://hl7.org/fhir/SearchParameter/Observation-value-concept"
METHODS = "http://methods.example"


def method_parameter() -> dict[str, Any]:
    return {
        "resourceType": "SearchParameter",
        "url": METHOD_URL,
        "name": "ObservationMethod",
        "status": "active",
        "description": "The method of an Observation",
        "code": "obs-method",
        "base": ["Observation"],
        "type": "token",
        "expression": "Observation.method",
    }


def composite_parameter(**changes: Any) -> dict[str, Any]:
    body = {
        "resourceType": "SearchParameter",
        "url": "https://fireside.example/SearchParameter/method-value-quantity",
        "name": "MethodValueQuantity",
        "status": "active",
        "description": "Method and quantity value together",
        "code": "method-value-quantity",
        "base": ["Observation"],
        "type": "composite",
        "expression": "Observation",
        "component": [
            {"definition": METHOD_URL, "expression": "method"},
            {"definition": VALUE_QUANTITY, "expression": "value.ofType(Quantity)"},
        ],
    }
    return {**body, **changes}


def observation(method: str, value: str, unit: str = "kg") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "method": {"coding": [{"system": METHODS, "code": method}]},
        "valueQuantity": {"value": float(value), "unit": unit},
    }


def test_composite_of_a_custom_and_an_official_parameter(fhir):
    before = {
        "m1_4": fhir.create(observation("m1", "4"))["id"],
        "m1_7": fhir.create(observation("m1", "7"))["id"],
        "m2_7": fhir.create(observation("m2", "7"))["id"],
    }
    wait_active(fhir, fhir.create(method_parameter())["id"])
    sp_id = fhir.create(composite_parameter())["id"]
    state = wait_active(fhir, sp_id)
    assert state["status"] == "active" and state["processed"] == state["total"]
    after = fhir.create(observation("m1", "9"))["id"]
    assert ids(fhir.get(f"Observation?method-value-quantity={METHODS}|m1$gt5")) == {
        before["m1_7"],
        after,
    }
    assert ids(fhir.get("Observation?method-value-quantity=m2$7")) == {before["m2_7"]}
    assert ids(fhir.get("Observation?method-value-quantity=m1$lt5,m2$lt5")) == {before["m1_4"]}
    assert ids(fhir.get("Observation?method-value-quantity=m1$7||kg")) == {before["m1_7"]}
    assert ids(fhir.get("Observation?method-value-quantity=m1$7||g")) == set()
    missing = fhir.get("Observation?method-value-quantity:missing=false&_total=accurate")
    assert missing.get_json()["total"] == 4
    resource = next(
        r
        for r in fhir.get("metadata").get_json()["rest"][0]["resource"]
        if r["type"] == "Observation"
    )
    assert {"name": "method-value-quantity", "type": "composite"}.items() <= next(
        p for p in resource["searchParam"] if p["name"] == "method-value-quantity"
    ).items()


def test_composite_over_repeating_nodes_only_pairs_values_of_one_node(fhir):
    sp = composite_parameter(
        code="part-code-concept",
        url="https://fireside.example/SearchParameter/part-code-concept",
        expression="Observation.component",
        component=[
            {"definition": COMPONENT_CODE, "expression": "code"},
            {"definition": VALUE_CONCEPT, "expression": "value.ofType(CodeableConcept)"},
        ],
    )
    crossed = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "panel"},
            "component": [
                {"code": {"text": "a", "coding": [{"code": "a"}]}, "valueCodeableConcept": {
                    "coding": [{"code": "yes"}]}},
                {"code": {"coding": [{"code": "b"}]}, "valueCodeableConcept": {
                    "coding": [{"code": "no"}]}},
            ],
        }
    )["id"]  # fmt: skip
    wait_active(fhir, fhir.create(sp)["id"])
    assert ids(fhir.get("Observation?part-code-concept=a$yes")) == {crossed}
    assert ids(fhir.get("Observation?part-code-concept=a$no")) == set()


def test_the_reindex_and_updates_keep_the_rows_right(fhir, db):
    wait_active(fhir, fhir.create(method_parameter())["id"])
    sp_id = fhir.create(composite_parameter())["id"]
    wait_active(fhir, sp_id)
    oid = fhir.create(observation("m1", "4"))["id"]
    body = fhir.get(f"Observation/{oid}").get_json()
    body["valueQuantity"]["value"] = 6
    assert fhir.put(f"Observation/{oid}", body).status_code == 200
    assert ids(fhir.get("Observation?method-value-quantity=m1$4")) == set()
    assert ids(fhir.get("Observation?method-value-quantity=m1$6")) == {oid}
    # Changing the parameter reindexes: the rows are replaced, never doubled.
    changed = composite_parameter(id=sp_id, description="changed")
    assert fhir.put(f"SearchParameter/{sp_id}", changed).status_code == 200
    wait_active(fhir, sp_id)
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(composite_index)
            .where(composite_index.c.param == "method-value-quantity")
        ).scalar_one()
    assert rows == 1
    assert fhir.delete(f"SearchParameter/{sp_id}").status_code == 204
    resp = fhir.get("Observation?method-value-quantity=m1$6")
    assert resp.status_code == 400


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"component": [{"definition": "https://nowhere.example/sp", "expression": "method"},
                        {"definition": VALUE_QUANTITY, "expression": "value"}]},
         "https://nowhere.example/sp"),
        ({"component": [{"definition": VALUE_QUANTITY, "expression": "value"}]}, "two or three"),
        ({"component": [{"definition": VALUE_QUANTITY, "expression": "value"},
                        {"definition": METHOD_URL, "expression": "method"}]}, "first component"),
        ({"component": [
            {"definition": METHOD_URL, "expression": "method"},
            {"definition": "http://hl7.org/fhir/SearchParameter/Observation-code-value-quantity",
             "expression": "value"}]}, "itself a composite"),
        ({"component": [{"definition": METHOD_URL, "expression": "method.select(x)"},
                        {"definition": VALUE_QUANTITY, "expression": "value"}]}, "indexer"),
    ],
)  # fmt: skip
def test_unindexable_composites_are_rejected(fhir, counts, changes, words):
    wait_active(fhir, fhir.create(method_parameter())["id"])
    before = counts()
    resp = fhir.post("SearchParameter", composite_parameter(**changes))
    assert resp.status_code == 400
    body = resp.get_json()
    assert outcome_codes(body) == ["FS-3003"]
    assert words in body["issue"][0]["diagnostics"]
    assert counts() == before


def test_bad_composite_values_are_400(fhir, counts):
    wait_active(fhir, fhir.create(method_parameter())["id"])
    wait_active(fhir, fhir.create(composite_parameter())["id"])
    before = counts()
    for value in ("m1", "m1$abc", "m1$1$2"):
        resp = fhir.get(f"Observation?method-value-quantity={value}")
        assert resp.status_code == 400, value
        assert outcome_codes(resp.get_json()) == ["FS-3002"]
        assert resp.get_json()["issue"][0]["expression"] == ["method-value-quantity"]
    assert counts() == before
