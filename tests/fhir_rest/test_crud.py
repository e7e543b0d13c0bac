"""Create, read, update, delete: the basic RESTful interactions on any resource type."""

from __future__ import annotations

from conftest import outcome_codes

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:example:mrn", "value": "12345"}],
    "name": [{"family": "Okafor", "given": ["Ada"]}],
    "birthDate": "2019-04-02",
}


def test_create_assigns_id_and_server_metadata(fhir):
    resp = fhir.post("Patient", {**PATIENT, "id": "client-chosen"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["id"] != "client-chosen"  # R4: the server ignores an id on create
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    assert "Last-Modified" in resp.headers


def test_read_returns_what_was_stored_with_decimal_precision(fhir):
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": 12.50, "unit": "kg"},
    }
    raw = b'{"resourceType":"Observation","status":"final","code":{"text":"weight"},' + (
        b'"valueQuantity":{"value":12.50,"unit":"kg"}}'
    )
    created = fhir.post("Observation", raw=raw).get_json()
    resp = fhir.get(f"Observation/{created['id']}")
    assert resp.status_code == 200
    assert b'"value":12.50' in resp.data
    assert resp.get_json()["code"] == obs["code"]


def test_read_any_resource_type(fhir):
    for resource in (
        {"resourceType": "Practitioner", "name": [{"family": "Mensah"}]},
        {"resourceType": "Organization", "name": "Fireside Clinic"},
        {"resourceType": "Basic", "code": {"text": "note"}},
    ):
        created = fhir.create(resource)
        assert fhir.get(f"{resource['resourceType']}/{created['id']}").status_code == 200


def test_read_unknown_id_is_404(fhir):
    resp = fhir.get("Patient/does-not-exist")
    assert resp.status_code == 404
    assert outcome_codes(resp.get_json()) == ["FS-2001"]


def test_update_creates_new_version(fhir):
    created = fhir.create(PATIENT)
    pid = created["id"]
    resp = fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "active": True})
    assert resp.status_code == 200
    assert resp.get_json()["meta"]["versionId"] == "2"
    assert resp.headers["ETag"] == 'W/"2"'
    assert fhir.get(f"Patient/{pid}").get_json()["active"] is True


def test_update_as_create_with_client_id(fhir):
    resp = fhir.put("Patient/child-1", {**PATIENT, "id": "child-1"})
    assert resp.status_code == 201
    assert resp.get_json()["id"] == "child-1"
    assert fhir.put("Patient/child-1", {**PATIENT, "id": "child-1"}).status_code == 200


def test_delete_is_soft_and_read_answers_gone(fhir):
    pid = fhir.create(PATIENT)["id"]
    resp = fhir.delete(f"Patient/{pid}")
    assert resp.status_code == 204
    gone = fhir.get(f"Patient/{pid}")
    assert gone.status_code == 410
    assert outcome_codes(gone.get_json()) == ["FS-2002"]
    # history keeps every version, the delete included
    hist = fhir.get(f"Patient/{pid}/_history").get_json()
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "POST"]
    # the old version is still readable
    assert fhir.get(f"Patient/{pid}/_history/1").status_code == 200
    assert fhir.get(f"Patient/{pid}/_history/2").status_code == 410


def test_delete_twice_is_idempotent_and_unknown_is_404(fhir):
    pid = fhir.create(PATIENT)["id"]
    assert fhir.delete(f"Patient/{pid}").status_code == 204
    assert fhir.delete(f"Patient/{pid}").status_code == 204
    assert fhir.delete("Patient/never-was").status_code == 404


def test_update_after_delete_revives(fhir):
    pid = fhir.create(PATIENT)["id"]
    fhir.delete(f"Patient/{pid}")
    resp = fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid})
    assert resp.status_code == 201
    assert resp.get_json()["meta"]["versionId"] == "3"


def test_vread(fhir):
    pid = fhir.create(PATIENT)["id"]
    fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "gender": "female"})
    v1 = fhir.get(f"Patient/{pid}/_history/1")
    assert v1.status_code == 200
    assert "gender" not in v1.get_json()
    assert v1.headers["ETag"] == 'W/"1"'
    assert fhir.get(f"Patient/{pid}/_history/9").status_code == 404
    assert fhir.get(f"Patient/{pid}/_history/abc").status_code == 404


def test_head_read_has_headers_no_body(fhir):
    pid = fhir.create(PATIENT)["id"]
    resp = fhir.request("HEAD", f"Patient/{pid}")
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.data == b""
