"""Chained search (``subject:Patient.name``, multi-level) and reverse chaining (``_has``)."""

from __future__ import annotations


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def world(fhir):
    org = fhir.create({"resourceType": "Organization", "name": "Sunrise Clinic"})["id"]
    ada = fhir.create(
        {
            "resourceType": "Patient",
            "name": [{"family": "Okafor", "given": ["Ada"]}],
            "managingOrganization": {"reference": f"Organization/{org}"},
        }
    )["id"]
    ben = fhir.create({"resourceType": "Patient", "name": [{"family": "Mensah"}]})["id"]
    group = fhir.create(
        {"resourceType": "Group", "type": "person", "actual": True, "identifier": [{"value": "g7"}]}
    )["id"]

    def obs(subject: str, code: str) -> str:
        return fhir.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": subject},
            }
        )["id"]

    return {
        "org": org,
        "ada": ada,
        "ben": ben,
        "ada_weight": obs(f"Patient/{ada}", "29463-7"),
        "ben_weight": obs(f"Patient/{ben}", "29463-7"),
        "ben_height": obs(f"Patient/{ben}", "8302-2"),
        "group_obs": obs(f"Group/{group}", "29463-7"),
    }


def test_chain_with_type(fhir):
    w = world(fhir)
    assert ids(fhir.get("Observation?subject:Patient.name=okafor")) == {w["ada_weight"]}
    assert ids(fhir.get("Observation?subject:Group.identifier=g7")) == {w["group_obs"]}
    # untyped: every target type that has the parameter (Group has no name parameter)
    assert ids(fhir.get("Observation?subject.name=okafor")) == {w["ada_weight"]}
    assert ids(fhir.get("Observation?subject.identifier=g7")) == {w["group_obs"]}


def test_chain_combined_with_other_criteria(fhir):
    w = world(fhir)
    found = ids(fhir.get("Observation?patient.family=mensah&code=http://loinc.org|8302-2"))
    assert found == {w["ben_height"]}


def test_multi_level_chain(fhir):
    w = world(fhir)
    found = ids(fhir.get("Observation?subject:Patient.organization.name=sunrise"))
    assert found == {w["ada_weight"]}


def test_reverse_chain(fhir):
    w = world(fhir)
    assert ids(fhir.get("Patient?_has:Observation:patient:code=8302-2")) == {w["ben"]}
    assert ids(fhir.get("Patient?_has:Observation:subject:code=29463-7")) == {w["ada"], w["ben"]}


def test_nested_reverse_chain(fhir):
    w = world(fhir)
    found = ids(
        fhir.get("Organization?_has:Patient:organization:_has:Observation:patient:code=29463-7")
    )
    assert found == {w["org"]}


def test_chain_errors(fhir):
    world(fhir)
    assert fhir.get("Observation?status.name=x").status_code == 400  # not a reference
    assert fhir.get("Observation?subject:Patient.nonsense=x").status_code == 400
    assert fhir.get("Patient?_has:Observation:code:code=x").status_code == 400
    assert fhir.get("Patient?_has:Nothing:patient:code=x").status_code == 400
