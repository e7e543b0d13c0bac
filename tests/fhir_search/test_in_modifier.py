"""Token ``:in`` and ``:not-in`` against ValueSets stored on the server (and HL7's own)."""

from __future__ import annotations


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def condition(code: str) -> dict:
    return {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
    }


def test_in_and_not_in_with_a_stored_value_set(fhir):
    fhir.create(
        {
            "resourceType": "ValueSet",
            "status": "active",
            "url": "https://fireside.example/ValueSet/cardio",
            "compose": {
                "include": [
                    {
                        "system": "http://snomed.info/sct",
                        "concept": [{"code": "38341003"}, {"code": "22298006"}],
                    }
                ]
            },
        }
    )
    hypertension = fhir.create(condition("38341003"))["id"]
    infarction = fhir.create(condition("22298006"))["id"]
    asthma = fhir.create(condition("195967001"))["id"]
    url = "https://fireside.example/ValueSet/cardio"
    assert ids(fhir.get(f"Condition?code:in={url}")) == {hypertension, infarction}
    assert ids(fhir.get(f"Condition?code:not-in={url}")) == {asthma}


def test_in_with_a_code_system_and_an_expansion(fhir):
    fhir.create(
        {
            "resourceType": "CodeSystem",
            "status": "active",
            "content": "complete",
            "url": "https://fireside.example/CodeSystem/colours",
            "concept": [{"code": "red", "concept": [{"code": "crimson"}]}, {"code": "blue"}],
        }
    )
    fhir.create(
        {
            "resourceType": "ValueSet",
            "status": "active",
            "url": "https://fireside.example/ValueSet/colours",
            "compose": {
                "include": [{"system": "https://fireside.example/CodeSystem/colours"}],
                "exclude": [
                    {
                        "system": "https://fireside.example/CodeSystem/colours",
                        "concept": [{"code": "blue"}],
                    }
                ],
            },
        }
    )

    def obs(code: str) -> str:
        return fhir.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {
                    "coding": [
                        {"system": "https://fireside.example/CodeSystem/colours", "code": code}
                    ]
                },
            }
        )["id"]

    crimson, blue = obs("crimson"), obs("blue")
    assert ids(fhir.get("Observation?code:in=https://fireside.example/ValueSet/colours")) == {
        crimson
    }
    del blue


def test_in_with_an_official_value_set(fhir):
    male = fhir.create({"resourceType": "Patient", "gender": "male"})["id"]
    fhir.create({"resourceType": "Patient", "gender": "female"})
    resp = fhir.get("Patient?gender:in=http://hl7.org/fhir/ValueSet/administrative-gender")
    assert len(ids(resp)) == 2
    assert male in ids(resp)


def test_unknown_value_set_is_400(fhir):
    resp = fhir.get("Condition?code:in=https://nowhere.example/ValueSet/x")
    assert resp.status_code == 400
    assert "ValueSet" in resp.get_json()["issue"][0]["diagnostics"]


def test_an_empty_value_set_matches_nothing_and_not_in_matches_everything(fhir):
    """The empty expansion is a sentinel token no resource has (once a NUL character, which
    PostgreSQL refused with a 500)."""
    url = "https://fireside.example/ValueSet/empty"
    fhir.create(
        {
            "resourceType": "ValueSet",
            "status": "active",
            "url": url,
            "expansion": {"timestamp": "2026-11-21T00:00:00Z", "total": 0},
        }
    )
    asthma = fhir.create(condition("195967001"))["id"]
    assert ids(fhir.get(f"Condition?code:in={url}")) == set()
    assert ids(fhir.get(f"Condition?code:not-in={url}")) == {asthma}
