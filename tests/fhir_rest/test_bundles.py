"""Batch and transaction Bundles."""

from __future__ import annotations

from conftest import outcome_codes


def txn(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(resource: dict, full_url: str | None = None, if_none_exist: str | None = None) -> dict:
    entry: dict = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        entry["fullUrl"] = full_url
    if if_none_exist:
        entry["request"]["ifNoneExist"] = if_none_exist
    return entry


PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:example:mrn", "value": "T1"}],
    "name": [{"family": "Bello"}],
}


def observation(subject: str, text: str = "weight") -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": text},
        "subject": {"reference": subject},
    }


def test_transaction_resolves_urn_uuid_references(fhir):
    bundle = txn(
        post(observation("urn:uuid:0b0e8e6e-1c8b-4a4c-9d4f-1f1f1f1f1f1f")),
        post(PATIENT, "urn:uuid:0b0e8e6e-1c8b-4a4c-9d4f-1f1f1f1f1f1f"),
    )
    resp = fhir.post("", bundle)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["type"] == "transaction-response"
    # responses are in request order
    obs_loc, pat_loc = (e["response"]["location"] for e in body["entry"])
    assert "/Observation/" in obs_loc and "/Patient/" in pat_loc
    pid = pat_loc.split("/Patient/")[1].split("/")[0]
    obs_id = obs_loc.split("/Observation/")[1].split("/")[0]
    stored = fhir.get(f"Observation/{obs_id}").get_json()
    assert stored["subject"]["reference"] == f"Patient/{pid}"


def test_transaction_conditional_reference(fhir):
    pid = fhir.create(PATIENT)["id"]
    resp = fhir.post("", txn(post(observation("Patient?identifier=urn:example:mrn|T1"))))
    assert resp.status_code == 200
    loc = resp.get_json()["entry"][0]["response"]["location"]
    obs = fhir.get(loc.split("/fhir/")[1].split("/_history")[0]).get_json()
    assert obs["subject"]["reference"] == f"Patient/{pid}"


def test_transaction_unresolvable_conditional_reference_writes_nothing(fhir, counts):
    before = counts()
    resp = fhir.post("", txn(post(PATIENT), post(observation("Patient?identifier=none|x"))))
    assert resp.status_code == 404
    assert counts() == before


def test_transaction_is_atomic(fhir, counts):
    before = counts()
    bad = {"resourceType": "Observation", "status": "not-a-status", "code": {"text": "x"}}
    resp = fhir.post("", txn(post(PATIENT), post(observation("Patient/x")), post(bad)))
    assert resp.status_code == 400
    outcome = resp.get_json()
    assert "FS-4002" in outcome_codes(outcome)
    assert any("Bundle.entry[2]" in i.get("expression", []) for i in outcome["issue"])
    assert counts() == before


def test_transaction_conditional_create_inside(fhir, counts):
    existing = fhir.create(PATIENT)["id"]
    bundle = txn(
        post(
            PATIENT,
            "urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
            "identifier=urn:example:mrn|T1",
        ),
        post(observation("urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")),
    )
    resp = fhir.post("", bundle)
    assert resp.status_code == 200
    entries = resp.get_json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"
    assert f"/Patient/{existing}/" in entries[0]["response"]["location"]
    obs_id = entries[1]["response"]["location"].split("/Observation/")[1].split("/")[0]
    assert fhir.get(f"Observation/{obs_id}").get_json()["subject"]["reference"] == (
        f"Patient/{existing}"
    )


def test_transaction_processing_order_and_all_methods(fhir):
    doomed = fhir.create({**PATIENT, "identifier": [{"value": "doomed"}]})["id"]
    kept = fhir.create({**PATIENT, "identifier": [{"value": "kept"}]})["id"]
    bundle = txn(
        {"request": {"method": "GET", "url": f"Patient/{kept}"}},
        {
            "resource": {**PATIENT, "id": kept, "active": True},
            "request": {"method": "PUT", "url": f"Patient/{kept}"},
        },
        {"request": {"method": "DELETE", "url": f"Patient/{doomed}"}},
        post(PATIENT),
    )
    resp = fhir.post("", bundle)
    assert resp.status_code == 200, resp.get_json()
    entries = resp.get_json()["entry"]
    assert [e["response"]["status"] for e in entries] == [
        "200 OK",
        "200 OK",
        "204 No Content",
        "201 Created",
    ]
    # GET runs after PUT: it sees the update
    assert entries[0]["resource"]["active"] is True
    assert fhir.get(f"Patient/{doomed}").status_code == 410


def test_transaction_conditional_update_entry(fhir):
    bundle = txn(
        {
            "resource": {**PATIENT, "active": True},
            "request": {"method": "PUT", "url": "Patient?identifier=urn:example:mrn|T1"},
        }
    )
    first = fhir.post("", bundle).get_json()["entry"][0]["response"]
    assert first["status"] == "201 Created"
    second = fhir.post("", bundle).get_json()["entry"][0]["response"]
    assert second["status"] == "200 OK"
    assert first["location"].split("/_history")[0] == second["location"].split("/_history")[0]


def test_transaction_patch_entry_with_binary(fhir):
    import base64
    import json

    pid = fhir.create(PATIENT)["id"]
    patch = base64.b64encode(json.dumps([{"op": "add", "path": "/active", "value": True}]).encode())
    bundle = txn(
        {
            "resource": {
                "resourceType": "Binary",
                "contentType": "application/json-patch+json",
                "data": patch.decode(),
            },
            "request": {"method": "PATCH", "url": f"Patient/{pid}"},
        }
    )
    resp = fhir.post("", bundle)
    assert resp.status_code == 200, resp.get_json()
    assert fhir.get(f"Patient/{pid}").get_json()["active"] is True


def test_transaction_duplicate_full_url_is_400(fhir, counts):
    before = counts()
    url = "urn:uuid:bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
    resp = fhir.post("", txn(post(PATIENT, url), post(PATIENT, url)))
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-4004"]
    assert counts() == before


def test_transaction_dangling_urn_uuid_is_rejected(fhir, counts):
    before = counts()
    resp = fhir.post("", txn(post(observation("urn:uuid:cccccccc-cccc-4ccc-8ccc-cccccccccccc"))))
    assert resp.status_code == 404
    assert counts() == before


def test_batch_entries_are_independent(fhir, counts):
    bad = {"resourceType": "Patient", "gender": "banana"}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [post(PATIENT), post(bad), {"request": {"method": "GET", "url": "Patient/nope"}}],
    }
    resp = fhir.post("", bundle)
    assert resp.status_code == 200
    entries = resp.get_json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"].startswith("400")
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["response"]["status"].startswith("404")
    search = fhir.get("Patient").get_json()
    assert search["total"] == 1


def test_bundle_must_be_batch_or_transaction(fhir, counts):
    before = counts()
    resp = fhir.post("", {"resourceType": "Bundle", "type": "collection"})
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-4001"]
    resp = fhir.post("", PATIENT)
    assert resp.status_code == 400
    resp = fhir.post(
        "", {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": PATIENT}]}
    )
    assert resp.status_code == 400
    assert counts() == before


def test_prefer_representation_in_transaction(fhir):
    resp = fhir.post("", txn(post(PATIENT)), headers={"Prefer": "return=representation"})
    entry = resp.get_json()["entry"][0]
    assert entry["resource"]["resourceType"] == "Patient"


def test_large_transaction_is_stored_indexed_and_versioned(fhir):
    """Big Bundles take the bulk write path (COPY on PostgreSQL): same results as small ones."""
    patient_url = "urn:uuid:dddddddd-dddd-4ddd-8ddd-dddddddddddd"
    entries = [post(PATIENT, patient_url)]
    entries += [post(observation(patient_url, f"reading {i}")) for i in range(60)]
    resp = fhir.post("", txn(*entries))
    assert resp.status_code == 200, resp.get_json()
    locations = [e["response"]["location"] for e in resp.get_json()["entry"]]
    assert len(locations) == 61
    pid = locations[0].split("/Patient/")[1].split("/")[0]
    found = fhir.get(f"Observation?subject=Patient/{pid}&_count=100").get_json()
    assert found["total"] == 60
    texts = sorted(e["resource"]["code"]["text"] for e in found["entry"])
    assert texts == sorted(f"reading {i}" for i in range(60))
    assert len(fhir.get("Observation/_history?_count=100").get_json()["entry"]) == 60
    assert fhir.get("Patient?identifier=urn:example:mrn|T1").get_json()["total"] == 1


def test_large_transaction_with_one_bad_entry_writes_nothing(fhir, counts):
    before = counts()
    entries = [post(observation("Patient/x", f"r{i}")) for i in range(40)]
    entries.append(post({"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}}))
    resp = fhir.post("", txn(*entries))
    assert resp.status_code == 400
    assert any("Bundle.entry[40]" in i.get("expression", []) for i in resp.get_json()["issue"])
    assert counts() == before
