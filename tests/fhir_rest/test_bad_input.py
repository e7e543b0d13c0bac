"""Bad input: every case answers a clear OperationOutcome with the right status and writes
nothing."""

from __future__ import annotations

import pytest
from conftest import outcome_codes

PATIENT = {"resourceType": "Patient", "name": [{"family": "Obi"}]}


@pytest.fixture
def unchanged(counts):
    before = counts()
    yield
    assert counts() == before


def test_malformed_json(fhir, unchanged):
    resp = fhir.post("Patient", raw=b'{"resourceType": "Patient",')
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-0001"]
    assert "line 1" in resp.get_json()["issue"][0]["diagnostics"]


def test_duplicate_json_keys(fhir, unchanged):
    resp = fhir.post("Patient", raw=b'{"resourceType": "Patient", "gender": "male", "gender": "x"}')
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-0001"]


def test_wrong_content_type(fhir, unchanged):
    resp = fhir.post("Patient", PATIENT, content_type="text/plain")
    assert resp.status_code == 415
    assert outcome_codes(resp.get_json()) == ["FS-0002"]
    resp = fhir.post("Patient", PATIENT, content_type="application/fhir+xml")
    assert resp.status_code == 415


def test_body_over_limit_is_413(fhir, unchanged):
    big = {**PATIENT, "text": {"status": "generated", "div": "<div>" + "x" * 2_100_000 + "</div>"}}
    resp = fhir.post("Patient", big)
    assert resp.status_code == 413
    assert outcome_codes(resp.get_json()) == ["FS-0003"]


def test_unknown_resource_type_is_404(fhir, unchanged):
    for resp in (
        fhir.get("Spaceship/1"),
        fhir.get("Spaceship"),
        fhir.post("Spaceship", {"resourceType": "Spaceship"}),
    ):
        assert resp.status_code == 404
        assert outcome_codes(resp.get_json()) == ["FS-0004"]


def test_invalid_ids(fhir, unchanged):
    for bad in ("a" * 65, "bad_id", "bad%20id"):
        resp = fhir.get(f"Patient/{bad}")
        assert resp.status_code == 400, bad
        assert outcome_codes(resp.get_json()) == ["FS-0005"]
    resp = fhir.put("Patient/bad_id", {**PATIENT, "id": "bad_id"})
    assert resp.status_code == 400


def test_body_type_and_id_must_match_url(fhir, unchanged):
    resp = fhir.post("Patient", {"resourceType": "Observation"})
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-1012"]
    resp = fhir.put("Patient/abc", {**PATIENT, "id": "xyz"})
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-1013"]
    resp = fhir.put("Patient/abc", PATIENT)
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-1015"]
    resp = fhir.post("Patient", {"name": [{"family": "x"}]})
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-1016"]


def test_empty_body(fhir, unchanged):
    resp = fhir.post("Patient", raw=b"", content_type="application/fhir+json")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-0009"]


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"resourceType": "Patient", "active": "true"}, "Patient.active"),
        ({"resourceType": "Patient", "gender": ""}, "Patient.gender"),
        ({"resourceType": "Patient", "name": []}, "Patient.name"),
        ({"resourceType": "Patient", "name": [{}]}, "Patient.name[0]"),
        ({"resourceType": "Patient", "gender": None}, "Patient.gender"),
        ({"resourceType": "Patient", "gender": "banana"}, "Patient.gender"),
        ({"resourceType": "Patient", "birthDate": "2020-02-30"}, "Patient.birthDate"),
        (
            {"resourceType": "Patient", "multipleBirthInteger": 2**31},
            "Patient.multipleBirthInteger",
        ),
        ({"resourceType": "Patient", "favouriteColour": "blue"}, "Patient.favouriteColour"),
        ({"resourceType": "Observation", "code": {"text": "x"}}, "Observation"),
    ],
)
def test_strict_validation(fhir, unchanged, body, expression):
    resp = fhir.post(body["resourceType"], body)
    assert resp.status_code == 400, resp.get_json()
    outcome = resp.get_json()
    expressions = [e for i in outcome["issue"] for e in i.get("expression", [])]
    assert any(e.startswith(expression) for e in expressions), outcome
    assert all(i["diagnostics"].startswith("FS-1") for i in outcome["issue"])


def test_invalid_update_keeps_old_version(fhir, counts):
    pid = fhir.create(PATIENT)["id"]
    before = counts()
    resp = fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "active": "yes"})
    assert resp.status_code == 400
    assert counts() == before
    assert fhir.get(f"Patient/{pid}").get_json()["meta"]["versionId"] == "1"
