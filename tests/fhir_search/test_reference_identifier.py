"""``:identifier`` on reference parameters: references matched by their ``identifier``
(logical references), as a token (``system|value``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import outcome_codes

MRN = "http://hospital.example/mrn"


def ids(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def obs(fhir: Any, subject: dict[str, Any], **extra: Any) -> str:
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    return fhir.create({**body, "subject": subject, **extra})["id"]


def test_logical_references_are_found_by_identifier(fhir):
    logical = obs(fhir, {"identifier": {"system": MRN, "value": "123"}})
    both = obs(
        fhir,
        {"reference": "Patient/p1", "identifier": {"system": MRN, "value": "456"}},
    )
    no_system = obs(fhir, {"identifier": {"value": "123"}})
    plain = obs(fhir, {"reference": "Patient/p1"})
    assert ids(fhir.get(f"Observation?subject:identifier={MRN}|123")) == {logical}
    assert ids(fhir.get("Observation?subject:identifier=123")) == {logical, no_system}
    assert ids(fhir.get("Observation?subject:identifier=|123")) == {no_system}
    assert ids(fhir.get(f"Observation?subject:identifier={MRN}|")) == {logical, both}
    assert ids(fhir.get(f"Observation?subject:identifier={MRN}|456,{MRN}|123")) == {logical, both}
    assert ids(fhir.get("Observation?subject:identifier=urn:other|123")) == set()
    assert ids(fhir.get("Observation?subject=Patient/p1")) == {both, plain}
    resp = fhir.get(f"Observation?subject:identifier={MRN}|&_total=accurate&_count=1")
    assert resp.get_json()["total"] == 2


def test_typed_parameters_take_the_reference_type(fhir):
    """``patient`` is ``subject.where(resolve() is Patient)``: a logical reference cannot be
    resolved, so its ``type`` says whether it is a Patient."""
    patient = obs(fhir, {"type": "Patient", "identifier": {"system": MRN, "value": "9"}})
    group = obs(fhir, {"type": "Group", "identifier": {"system": MRN, "value": "9"}})
    untyped = obs(fhir, {"identifier": {"system": MRN, "value": "9"}})
    assert ids(fhir.get(f"Observation?patient:identifier={MRN}|9")) == {patient}
    assert ids(fhir.get(f"Observation?subject:identifier={MRN}|9")) == {patient, group, untyped}
    # A logical reference is a value: it is not missing.
    assert ids(fhir.get(f"Observation?patient:missing=true&subject:identifier={MRN}|9")) == {
        group,
        untyped,
    }
    assert ids(fhir.get("Observation?subject:missing=true")) == set()


def test_updates_and_deletes_replace_the_identifier_rows(fhir):
    oid = obs(fhir, {"identifier": {"system": MRN, "value": "1"}})
    body = fhir.get(f"Observation/{oid}").get_json()
    body["subject"] = {"identifier": {"system": MRN, "value": "2"}}
    assert fhir.put(f"Observation/{oid}", body).status_code == 200
    assert ids(fhir.get(f"Observation?subject:identifier={MRN}|1")) == set()
    assert ids(fhir.get(f"Observation?subject:identifier={MRN}|2")) == {oid}
    assert fhir.delete(f"Observation/{oid}").status_code == 204
    assert ids(fhir.get(f"Observation?subject:identifier={MRN}|2")) == set()


def test_identifier_in_a_transaction_and_in_reverse_chains(fhir):
    enc = fhir.create({"resourceType": "Encounter", "status": "finished", "class": {"code": "A"}})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"identifier": {"system": MRN, "value": "77"}},
                    "encounter": {"reference": f"Encounter/{enc['id']}"},
                },
                "request": {"method": "POST", "url": "Observation"},
            }
        ],
    }
    assert fhir.post("", bundle).status_code == 200
    assert len(ids(fhir.get(f"Observation?subject:identifier={MRN}|77"))) == 1
    found = fhir.get(f"Encounter?_has:Observation:encounter:subject:identifier={MRN}|77")
    assert ids(found) == {enc["id"]}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("Observation?subject:identifier=|", "FS-3002"),
        ("Observation?code:identifier=123", "FS-3003"),  # a token, not a reference
        ("Observation?subject:identifier:exact=123", "FS-3003"),
        ("Observation?subject:identifier=", "FS-3002"),
    ],
)
def test_bad_identifier_searches_are_400(fhir, counts, query, code):
    before = counts()
    resp = fhir.get(query)
    assert resp.status_code == 400
    body = resp.get_json()
    assert outcome_codes(body) == [code]
    assert body["issue"][0]["expression"][0].split(":")[0] == query.split("?")[1].split(":")[0]
    assert counts() == before
