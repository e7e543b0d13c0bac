"""PATCH with JSON Patch and FHIRPath Patch over HTTP."""

from __future__ import annotations

PATIENT = {"resourceType": "Patient", "name": [{"family": "Okafor"}], "gender": "female"}


def test_json_patch(fhir):
    pid = fhir.create(PATIENT)["id"]
    ops = [
        {"op": "replace", "path": "/gender", "value": "male"},
        {"op": "add", "path": "/active", "value": True},
    ]
    resp = fhir.patch(f"Patient/{pid}", ops, content_type="application/json-patch+json")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["gender"] == "male" and body["active"] is True
    assert body["meta"]["versionId"] == "2"


def test_fhirpath_patch(fhir):
    pid = fhir.create(PATIENT)["id"]
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Patient.gender"},
                    {"name": "value", "valueCode": "other"},
                ],
            }
        ],
    }
    resp = fhir.patch(f"Patient/{pid}", params)
    assert resp.status_code == 200
    assert resp.get_json()["gender"] == "other"


def test_patch_producing_invalid_resource_is_rejected(fhir, counts):
    pid = fhir.create(PATIENT)["id"]
    before = counts()
    ops = [{"op": "replace", "path": "/gender", "value": "banana"}]
    resp = fhir.patch(f"Patient/{pid}", ops, content_type="application/json-patch+json")
    assert resp.status_code == 400
    assert counts() == before


def test_patch_failed_test_op_is_422(fhir, counts):
    pid = fhir.create(PATIENT)["id"]
    before = counts()
    ops = [{"op": "test", "path": "/gender", "value": "male"}]
    resp = fhir.patch(f"Patient/{pid}", ops, content_type="application/json-patch+json")
    assert resp.status_code == 422
    assert counts() == before


def test_patch_cannot_change_id(fhir, counts):
    pid = fhir.create(PATIENT)["id"]
    before = counts()
    ops = [{"op": "replace", "path": "/id", "value": "other"}]
    resp = fhir.patch(f"Patient/{pid}", ops, content_type="application/json-patch+json")
    assert resp.status_code == 422
    assert counts() == before


def test_patch_with_stale_if_match(fhir, counts):
    pid = fhir.create(PATIENT)["id"]
    before = counts()
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    resp = fhir.patch(
        f"Patient/{pid}",
        ops,
        content_type="application/json-patch+json",
        headers={"If-Match": 'W/"5"'},
    )
    assert resp.status_code == 412
    assert counts() == before


def test_patch_wrong_content_type_is_415(fhir, counts):
    pid = fhir.create(PATIENT)["id"]
    before = counts()
    resp = fhir.patch(f"Patient/{pid}", raw=b"gender=male", content_type="text/plain")
    assert resp.status_code == 415
    assert counts() == before


def test_patch_unknown_resource_is_404(fhir):
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    assert (
        fhir.patch("Patient/nope", ops, content_type="application/json-patch+json").status_code
        == 404
    )
