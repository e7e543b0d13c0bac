"""Preferences, formats, conditional reads and representations (_summary, _elements)."""

from __future__ import annotations

from conftest import outcome_codes

PATIENT = {
    "resourceType": "Patient",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Ada</div>'},
    "name": [{"family": "Okafor"}],
    "gender": "female",
    "birthDate": "2019-04-02",
}


def test_prefer_return_minimal(fhir):
    resp = fhir.post("Patient", PATIENT, headers={"Prefer": "return=minimal"})
    assert resp.status_code == 201
    assert resp.data == b""
    assert "Location" in resp.headers


def test_prefer_return_operation_outcome(fhir):
    resp = fhir.post("Patient", PATIENT, headers={"Prefer": "return=OperationOutcome"})
    assert resp.status_code == 201
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_pretty_and_format(fhir):
    pid = fhir.create(PATIENT)["id"]
    pretty = fhir.get(f"Patient/{pid}?_pretty=true")
    assert b"\n  " in pretty.data
    assert fhir.get(f"Patient/{pid}?_format=json").status_code == 200
    assert fhir.get(f"Patient/{pid}?_format=application/fhir%2Bjson").status_code == 200
    xml = fhir.get(f"Patient/{pid}?_format=xml")
    assert xml.status_code == 406
    assert outcome_codes(xml.get_json()) == ["FS-0008"]
    assert fhir.get(f"Patient/{pid}", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert fhir.get(f"Patient/{pid}", headers={"Accept": "*/*"}).status_code == 200


def test_conditional_read_if_none_match(fhir):
    pid = fhir.create(PATIENT)["id"]
    assert fhir.get(f"Patient/{pid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert fhir.get(f"Patient/{pid}", headers={"If-None-Match": 'W/"0"'}).status_code == 200


def test_conditional_read_if_modified_since(fhir):
    pid = fhir.create(PATIENT)["id"]
    later = "Wed, 21 Oct 2099 07:28:00 GMT"
    earlier = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert fhir.get(f"Patient/{pid}", headers={"If-Modified-Since": later}).status_code == 304
    assert fhir.get(f"Patient/{pid}", headers={"If-Modified-Since": earlier}).status_code == 200


def test_summary_and_elements_on_read(fhir):
    pid = fhir.create(PATIENT)["id"]
    summary = fhir.get(f"Patient/{pid}?_summary=true").get_json()
    assert "text" not in summary and summary["gender"] == "female"
    assert any(t["code"] == "SUBSETTED" for t in summary["meta"]["tag"])
    text = fhir.get(f"Patient/{pid}?_summary=text").get_json()
    assert "text" in text and "gender" not in text
    data = fhir.get(f"Patient/{pid}?_summary=data").get_json()
    assert "text" not in data and "name" in data
    elements = fhir.get(f"Patient/{pid}?_elements=gender").get_json()
    assert elements["gender"] == "female" and "name" not in elements
    assert elements["id"] == pid
    assert fhir.get(f"Patient/{pid}?_summary=bogus").status_code == 400


def test_accepts_application_json(fhir):
    resp = fhir.post("Patient", PATIENT, content_type="application/json")
    assert resp.status_code == 201


def test_cors_free_unknown_route_and_method(fhir):
    resp = fhir.request("PATCH", "Patient")
    assert resp.status_code == 400  # a conditional patch needs criteria
    resp = fhir.post("Patient/x/_history")
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]
    assert fhir.get("Patient/x/y/z/w").status_code == 404
