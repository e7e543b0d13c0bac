"""The search machinery the core builds on: _id, _lastUpdated, tokens, references, paging."""

from __future__ import annotations

from conftest import outcome_codes


def patient(mrn: str, **extra: object) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}], **extra}


def ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_search_by_id_and_identifier(fhir):
    a = fhir.create(patient("A"))["id"]
    b = fhir.create(patient("B"))["id"]
    assert ids(fhir.get(f"Patient?_id={a}").get_json()) == [a]
    assert sorted(ids(fhir.get(f"Patient?_id={a},{b}").get_json())) == sorted([a, b])
    assert ids(fhir.get("Patient?identifier=urn:mrn|B").get_json()) == [b]
    assert ids(fhir.get("Patient?identifier=B").get_json()) == [b]
    assert sorted(ids(fhir.get("Patient?identifier=urn:mrn|").get_json())) == sorted([a, b])
    assert ids(fhir.get("Patient?identifier=other|B").get_json()) == []
    # AND across repeated parameters
    assert ids(fhir.get(f"Patient?identifier=A&_id={b}").get_json()) == []


def test_token_search_on_codes_and_booleans(fhir):
    male = fhir.create(patient("M", gender="male", active=True))["id"]
    fhir.create(patient("F", gender="female"))
    assert ids(fhir.get("Patient?gender=male").get_json()) == [male]
    assert ids(fhir.get("Patient?active=true").get_json()) == [male]


def test_reference_search(fhir):
    pid = fhir.create(patient("R"))["id"]
    obs = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": f"Patient/{pid}"},
        }
    )["id"]
    assert ids(fhir.get(f"Observation?subject=Patient/{pid}").get_json()) == [obs]
    assert ids(fhir.get(f"Observation?patient={pid}").get_json()) == [obs]
    assert ids(fhir.get("Observation?code=http://loinc.org|29463-7").get_json()) == [obs]


def test_deleted_resources_are_not_found(fhir):
    pid = fhir.create(patient("D"))["id"]
    fhir.delete(f"Patient/{pid}")
    assert ids(fhir.get("Patient?identifier=D").get_json()) == []


def test_last_updated(fhir):
    pid = fhir.create(patient("L"))["id"]
    assert ids(fhir.get("Patient?_lastUpdated=gt2000-01-01").get_json()) == [pid]
    assert ids(fhir.get("Patient?_lastUpdated=lt2000-01-01").get_json()) == []
    assert fhir.get("Patient?_lastUpdated=gtbanana").status_code == 400


def test_paging_with_keyset_links(fhir):
    created = [fhir.create(patient(str(i)))["id"] for i in range(5)]
    seen, url = [], "Patient?_count=2"
    while url:
        bundle = fhir.get(url).get_json()
        seen += ids(bundle)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else None
    assert seen == created


def test_total_and_summary_count(fhir):
    for i in range(3):
        fhir.create(patient(str(i)))
    bundle = fhir.get("Patient?_summary=count").get_json()
    assert bundle["total"] == 3 and "entry" not in bundle
    assert fhir.get("Patient?_count=1&_total=accurate").get_json()["total"] == 3


def test_unknown_parameter_is_400_unless_lenient(fhir):
    fhir.create(patient("X"))
    resp = fhir.get("Patient?shoe-size=9")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3001"]
    lenient = fhir.get("Patient?shoe-size=9", headers={"Prefer": "handling=lenient"}).get_json()
    assert len(ids(lenient)) == 1
    assert "shoe-size" not in lenient["link"][0]["url"]


def test_not_yet_indexed_parameter_says_so(fhir):
    resp = fhir.get("Patient?deceased=true")  # an exists() test: not indexed
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3003"]


def test_post_search(fhir):
    pid = fhir.create(patient("P"))["id"]
    resp = fhir.post(
        "Patient/_search", raw=b"identifier=P", content_type="application/x-www-form-urlencoded"
    )
    assert resp.status_code == 200
    assert ids(resp.get_json()) == [pid]


def test_escaped_comma_in_token(fhir):
    pid = fhir.create(patient("a,b"))["id"]
    assert ids(fhir.get("Patient?identifier=a\\,b").get_json()) == [pid]
