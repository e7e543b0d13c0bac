"""Versioning preconditions and conditional create, update and delete."""

from __future__ import annotations

from conftest import outcome_codes


def patient(mrn: str, **extra: object) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:example:mrn", "value": mrn}],
        **extra,
    }


def test_if_match_current_version_updates(fhir):
    pid = fhir.create(patient("1"))["id"]
    resp = fhir.put(f"Patient/{pid}", {**patient("1"), "id": pid}, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 200


def test_stale_if_match_is_412_and_writes_nothing(fhir, counts):
    pid = fhir.create(patient("1"))["id"]
    fhir.put(f"Patient/{pid}", {**patient("1"), "id": pid, "active": True})
    before = counts()
    resp = fhir.put(
        f"Patient/{pid}",
        {**patient("1"), "id": pid, "active": False},
        headers={"If-Match": 'W/"1"'},
    )
    assert resp.status_code == 412
    assert outcome_codes(resp.get_json()) == ["FS-2005"]
    assert counts() == before
    assert fhir.get(f"Patient/{pid}").get_json()["active"] is True


def test_malformed_if_match_is_400(fhir, counts):
    pid = fhir.create(patient("1"))["id"]
    before = counts()
    resp = fhir.put(f"Patient/{pid}", {**patient("1"), "id": pid}, headers={"If-Match": "banana"})
    assert resp.status_code == 400
    assert counts() == before


def test_if_match_on_delete(fhir, counts):
    pid = fhir.create(patient("1"))["id"]
    before = counts()
    assert fhir.delete(f"Patient/{pid}", headers={"If-Match": 'W/"7"'}).status_code == 412
    assert counts() == before
    assert fhir.delete(f"Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 204


def test_conditional_create(fhir, counts):
    first = fhir.post(
        "Patient", patient("42"), headers={"If-None-Exist": "identifier=urn:example:mrn|42"}
    )
    assert first.status_code == 201
    before = counts()
    again = fhir.post(
        "Patient", patient("42"), headers={"If-None-Exist": "identifier=urn:example:mrn|42"}
    )
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert counts() == before


def test_conditional_create_with_multiple_matches_is_412(fhir, counts):
    fhir.create(patient("7"))
    fhir.create(patient("7"))
    before = counts()
    resp = fhir.post("Patient", patient("7"), headers={"If-None-Exist": "identifier=7"})
    assert resp.status_code == 412
    assert outcome_codes(resp.get_json()) == ["FS-2006"]
    assert counts() == before


def test_conditional_create_with_unknown_parameter_is_400(fhir, counts):
    before = counts()
    resp = fhir.post("Patient", patient("7"), headers={"If-None-Exist": "nonsense=1"})
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3001"]
    assert counts() == before


def test_conditional_update_creates_then_updates(fhir):
    created = fhir.put("Patient?identifier=urn:example:mrn|9", patient("9"))
    assert created.status_code == 201
    pid = created.get_json()["id"]
    updated = fhir.put("Patient?identifier=urn:example:mrn|9", patient("9", active=True))
    assert updated.status_code == 200
    assert updated.get_json()["id"] == pid
    assert updated.get_json()["meta"]["versionId"] == "2"


def test_conditional_update_with_conflicting_id_is_400(fhir, counts):
    fhir.create(patient("9"))
    before = counts()
    resp = fhir.put("Patient?identifier=urn:example:mrn|9", {**patient("9"), "id": "other"})
    assert resp.status_code == 400
    assert counts() == before


def test_conditional_update_multiple_matches_is_412(fhir, counts):
    fhir.create(patient("3"))
    fhir.create(patient("3"))
    before = counts()
    assert fhir.put("Patient?identifier=3", patient("3")).status_code == 412
    assert counts() == before


def test_conditional_delete(fhir):
    pid = fhir.create(patient("5"))["id"]
    assert fhir.delete("Patient?identifier=urn:example:mrn|5").status_code == 204
    assert fhir.get(f"Patient/{pid}").status_code == 410
    assert fhir.delete("Patient?identifier=urn:example:mrn|5").status_code == 204


def test_conditional_delete_multiple_matches_is_412(fhir, counts):
    fhir.create(patient("6"))
    fhir.create(patient("6"))
    before = counts()
    assert fhir.delete("Patient?identifier=6").status_code == 412
    assert counts() == before


def test_conditional_create_after_identifier_changed(fhir):
    """A match key left by a resource that no longer matches must not block a new create."""
    pid = fhir.post(
        "Patient", patient("11"), headers={"If-None-Exist": "identifier=11"}
    ).get_json()["id"]
    fhir.put(f"Patient/{pid}", {**patient("12"), "id": pid})
    resp = fhir.post("Patient", patient("11"), headers={"If-None-Exist": "identifier=11"})
    assert resp.status_code == 201
    assert resp.get_json()["id"] != pid
