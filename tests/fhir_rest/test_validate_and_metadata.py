"""$validate and the CapabilityStatement."""

from __future__ import annotations


def test_validate_valid_resource(fhir, counts):
    before = counts()
    resp = fhir.post("Patient/$validate", {"resourceType": "Patient", "gender": "male"})
    assert resp.status_code == 200
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(i["severity"] == "information" for i in outcome["issue"])
    assert counts() == before


def test_validate_invalid_resource_lists_issues(fhir, counts):
    before = counts()
    resp = fhir.post("Patient/$validate", {"resourceType": "Patient", "gender": "banana"})
    assert resp.status_code == 200
    issues = resp.get_json()["issue"]
    assert any(i["severity"] == "error" and "Patient.gender" in i["expression"] for i in issues)
    assert counts() == before


def test_validate_parameters_form_and_instance_level(fhir):
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient", "id": "p1"}},
            {"name": "mode", "valueCode": "update"},
        ],
    }
    resp = fhir.post("Patient/p1/$validate", params)
    assert resp.status_code == 200
    assert all(i["severity"] == "information" for i in resp.get_json()["issue"])


def test_unknown_operation(fhir):
    resp = fhir.post("Patient/$frobnicate", {"resourceType": "Parameters"})
    assert resp.status_code == 404
    assert resp.get_json()["issue"][0]["details"]["coding"][0]["code"] == "FS-5003"


def test_capability_statement_describes_what_works(fhir):
    resp = fhir.get("metadata")
    assert resp.status_code == 200
    cs = resp.get_json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    types = {r["type"]: r for r in rest["resource"]}
    assert len(types) > 140  # every R4 resource type
    patient = types["Patient"]
    assert {"read", "vread", "update", "patch", "delete", "create", "search-type"} <= {
        i["code"] for i in patient["interaction"]
    }
    params = {p["name"] for p in patient["searchParam"]}
    assert {"_id", "_lastUpdated", "identifier", "name", "birthdate"} <= params
    observation = {p["name"] for p in types["Observation"]["searchParam"]}
    assert {"value-quantity", "code-value-quantity"} <= observation
    # deceased is an exists() test: not indexed, so not advertised; phonetic is (Soundex)
    assert "deceased" not in params
    assert "phonetic" in params
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system"}
