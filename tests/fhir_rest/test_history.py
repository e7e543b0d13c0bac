"""History at instance, type and system level, with _since, _at, _count and paging."""

from __future__ import annotations

import time

from tests.conftest import server_provenance

PATIENT = {"resourceType": "Patient", "name": [{"family": "Adeyemi"}]}


def test_instance_history_lists_every_version_newest_first(fhir):
    pid = fhir.create(PATIENT)["id"]
    for gender in ("male", "female"):
        fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "gender": gender})
    bundle = fhir.get(f"Patient/{pid}/_history").get_json()
    assert bundle["type"] == "history"
    versions = [e["resource"]["meta"]["versionId"] for e in bundle["entry"]]
    assert versions == ["3", "2", "1"]
    assert bundle["entry"][2]["request"] == {"method": "POST", "url": "Patient"}
    assert bundle["entry"][0]["response"]["etag"] == 'W/"3"'


def test_type_and_system_history(fhir):
    fhir.create(PATIENT)
    fhir.create({"resourceType": "Organization", "name": "Clinic"})
    assert len(fhir.get("Patient/_history").get_json()["entry"]) == 1
    entries = fhir.get("_history").get_json()["entry"]
    assert len([e for e in entries if not server_provenance(e["resource"])]) == 2


def test_history_paging(fhir):
    pid = fhir.create(PATIENT)["id"]
    for i in range(6):
        fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "birthDate": f"200{i}"})
    seen = []
    url = f"Patient/{pid}/_history?_count=3"
    while url:
        bundle = fhir.get(url).get_json()
        seen += [e["resource"]["meta"]["versionId"] for e in bundle["entry"]]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else None
    assert seen == ["7", "6", "5", "4", "3", "2", "1"]


def test_history_since(fhir):
    pid = fhir.create(PATIENT)["id"]
    time.sleep(0.01)
    mark = fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "active": True}).get_json()["meta"][
        "lastUpdated"
    ]
    bundle = fhir.get(f"Patient/{pid}/_history?_since={mark}").get_json()
    assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["2"]
    assert fhir.get(f"Patient/{pid}/_history?_since=yesterday").status_code == 400


def test_history_at(fhir):
    pid = fhir.create(PATIENT)["id"]
    time.sleep(0.01)
    v1_time = fhir.get(f"Patient/{pid}").get_json()["meta"]["lastUpdated"]
    time.sleep(0.01)
    fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "active": True})
    bundle = fhir.get(f"Patient/{pid}/_history?_at={v1_time}").get_json()
    assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["1"]


def test_history_of_unknown_resource_is_404(fhir):
    assert fhir.get("Patient/nope/_history").status_code == 404
