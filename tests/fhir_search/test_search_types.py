"""Search by parameter type: string, date, number, quantity, uri, token and reference
modifiers, with the prefixes' precision semantics (R4 search.html)."""

from __future__ import annotations

import pytest
from conftest import outcome_codes


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


@pytest.fixture
def people(fhir):
    def make(family, given, birth, **extra):
        return fhir.create(
            {
                "resourceType": "Patient",
                "name": [{"family": family, "given": [given]}],
                "birthDate": birth,
                **extra,
            }
        )["id"]

    return {
        "zoe": make(
            "Zoë", "Ada", "2019-04-02", address=[{"city": "Lagos", "postalCode": "100001"}]
        ),
        "bello": make("Bello", "Tunde", "1985-12-31"),
        "bellamy": make(
            "Bellamy", "Ruth", "1985-01-15", telecom=[{"system": "phone", "value": "555"}]
        ),
    }


def test_string_default_is_case_and_accent_insensitive_prefix(fhir, people):
    assert ids(fhir.get("Patient?name=zoe")) == {people["zoe"]}
    assert ids(fhir.get("Patient?family=BELL")) == {people["bello"], people["bellamy"]}
    assert ids(fhir.get("Patient?given=tun")) == {people["bello"]}
    assert ids(fhir.get("Patient?address-city=lag")) == {people["zoe"]}


def test_string_exact_and_contains(fhir, people):
    assert ids(fhir.get("Patient?family:exact=Zoë")) == {people["zoe"]}
    assert ids(fhir.get("Patient?family:exact=zoë")) == set()
    assert ids(fhir.get("Patient?family:contains=llam")) == {people["bellamy"]}
    # LIKE wildcards in the value are literal
    assert ids(fhir.get("Patient?family:contains=%25")) == set()


def test_or_and_and(fhir, people):
    assert ids(fhir.get("Patient?family=zoe,bello")) == {people["zoe"], people["bello"]}
    assert ids(fhir.get("Patient?family=bel&given=ruth")) == {people["bellamy"]}


def test_date_precision_and_prefixes(fhir, people):
    assert ids(fhir.get("Patient?birthdate=1985")) == {people["bello"], people["bellamy"]}
    assert ids(fhir.get("Patient?birthdate=1985-12")) == {people["bello"]}
    assert ids(fhir.get("Patient?birthdate=2019-04-02")) == {people["zoe"]}
    assert ids(fhir.get("Patient?birthdate=gt1985-06-01")) == {people["bello"], people["zoe"]}
    assert ids(fhir.get("Patient?birthdate=lt1985-06-01")) == {people["bellamy"]}
    assert ids(fhir.get("Patient?birthdate=ge1985-12-31")) == {people["bello"], people["zoe"]}
    assert ids(fhir.get("Patient?birthdate=le1985-01-15")) == {people["bellamy"]}
    assert ids(fhir.get("Patient?birthdate=ne1985")) == {people["zoe"]}
    assert ids(fhir.get("Patient?birthdate=ge1985&birthdate=lt1986")) == {
        people["bello"],
        people["bellamy"],
    }
    assert ids(fhir.get("Patient?birthdate=sa2000")) == {people["zoe"]}
    assert ids(fhir.get("Patient?birthdate=eb1985-06")) == {people["bellamy"]}


def test_date_ranges_of_periods(fhir):
    enc = fhir.create(
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": {"start": "2024-03-01T09:00:00Z", "end": "2024-03-01T10:00:00Z"},
        }
    )["id"]
    open_ended = fhir.create(
        {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": {"start": "2024-03-05T09:00:00+01:00"},
        }
    )["id"]
    assert ids(fhir.get("Encounter?date=2024-03-01")) == {enc}
    assert ids(fhir.get("Encounter?date=2024-03")) == {enc}  # the open one is not contained
    assert ids(fhir.get("Encounter?date=gt2024-03-10")) == {open_ended}
    assert ids(fhir.get("Encounter?date=lt2024-03-02")) == {enc}
    assert ids(fhir.get("Encounter?date=ap2024-03-07")) == {open_ended}


def test_invalid_date_is_400(fhir, counts):
    resp = fhir.get("Patient?birthdate=gtyesterday")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3002"]
    assert "birthdate" in resp.get_json()["issue"][0]["expression"]


def test_quantity_search(fhir):
    import json

    def create(value: str, code: str = "kg") -> str:
        quantity = {"value": 0, "unit": code, "system": "http://unitsofmeasure.org", "code": code}
        body = json.dumps(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "valueQuantity": quantity,
            }
        ).replace('"value": 0', f'"value": {value}')
        resp = fhir.post("Observation", raw=body.encode())
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["id"]

    light, exact, heavy, grams = create("5.4"), create("10.0"), create("80"), create("10", "g")
    assert ids(fhir.get("Observation?value-quantity=10")) == {exact, grams}
    assert ids(fhir.get("Observation?value-quantity=10|http://unitsofmeasure.org|kg")) == {exact}
    assert ids(fhir.get("Observation?value-quantity=10||g")) == {grams}
    assert ids(fhir.get("Observation?value-quantity=gt10||kg")) == {heavy}
    assert ids(fhir.get("Observation?value-quantity=le10||kg")) == {light, exact}
    assert ids(fhir.get("Observation?value-quantity=ap5||kg")) == {light}  # within 10%
    assert ids(fhir.get("Observation?value-quantity=ap4||kg")) == set()
    assert fhir.get("Observation?value-quantity=ten").status_code == 400


def test_number_search_uses_written_precision(fhir):
    def risk(probability: str) -> str:
        body = (
            '{"resourceType":"RiskAssessment","status":"final",'
            '"subject":{"reference":"Patient/p"},'
            f'"prediction":[{{"probabilityDecimal":{probability}}}]}}'
        )
        resp = fhir.post("RiskAssessment", raw=body.encode())
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["id"]

    low, mid = risk("0.1"), risk("0.55")
    assert ids(fhir.get("RiskAssessment?probability=0.1")) == {low}
    assert ids(fhir.get("RiskAssessment?probability=0.6")) == {mid}  # 0.6 covers [0.55, 0.65)
    assert ids(fhir.get("RiskAssessment?probability=gt0.2")) == {mid}
    assert ids(fhir.get("RiskAssessment?probability=lt0.2")) == {low}


def test_uri_search(fhir):
    vs = fhir.create(
        {
            "resourceType": "ValueSet",
            "status": "active",
            "url": "http://example.org/fhir/ValueSet/a",
        }
    )["id"]
    assert ids(fhir.get("ValueSet?url=http://example.org/fhir/ValueSet/a")) == {vs}
    assert ids(fhir.get("ValueSet?url=http://example.org/fhir/ValueSet")) == set()
    assert ids(fhir.get("ValueSet?url:below=http://example.org/fhir")) == {vs}
    assert ids(fhir.get("ValueSet?url:above=http://example.org/fhir/ValueSet/a/extra")) == {vs}


def test_token_modifiers(fhir, people):
    fhir.put(
        f"Patient/{people['zoe']}",
        {
            "resourceType": "Patient",
            "id": people["zoe"],
            "gender": "female",
            "identifier": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                            }
                        ],
                        "text": "Medical record",
                    },
                    "system": "urn:mrn",
                    "value": "A1",
                }
            ],
        },
    )
    everyone = set(people.values())
    assert ids(fhir.get("Patient?gender:not=female")) == everyone - {people["zoe"]}
    assert ids(fhir.get("Patient?gender:missing=true")) == everyone - {people["zoe"]}
    assert ids(fhir.get("Patient?gender:missing=false")) == {people["zoe"]}
    assert ids(fhir.get("Patient?phone=555")) == {people["bellamy"]}
    assert ids(
        fhir.get("Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|A1")
    ) == {people["zoe"]}
    assert ids(fhir.get("Patient?_id:not=" + people["zoe"])) == everyone - {people["zoe"]}
    assert fhir.get("Patient?gender:missing=maybe").status_code == 400
    assert fhir.get("Patient?gender:exact=female").status_code == 400


def test_token_text_modifier(fhir):
    cond = fhir.create(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p"},
            "code": {
                "coding": [{"system": "http://snomed.info/sct", "code": "38341003"}],
                "text": "Hypertension",
            },
        }
    )["id"]
    assert ids(fhir.get("Condition?code:text=hyper")) == {cond}


def test_reference_type_modifier(fhir):
    obs = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Group/g1"},
        }
    )["id"]
    assert ids(fhir.get("Observation?subject:Group=g1")) == {obs}
    assert ids(fhir.get("Observation?subject:Patient=g1")) == set()
    # the patient parameter is subject.where(resolve() is Patient): a Group is not a patient
    assert ids(fhir.get("Observation?patient=g1")) == set()
    assert fhir.get("Observation?subject:Spaceship=g1").status_code == 400


def test_whole_system_search(fhir, people):
    org = fhir.create({"resourceType": "Organization", "name": "Clinic"})["id"]
    found = ids(fhir.get(f"?_type=Patient,Organization&_id={people['zoe']},{org}"))
    assert found == {people["zoe"], org}
    assert ids(fhir.get(f"?_id={org}")) == {org}
    assert ids(fhir.get("?_type=Organization")) == {org}
    assert fhir.get("?_type=Spaceship").status_code == 404
    assert fhir.get("?_type=Patient&family=zoe").status_code == 400  # not common to all types


def test_links_self_first_next(fhir, people):
    bundle = fhir.get("Patient?_count=1").get_json()
    relations = {link["relation"]: link["url"] for link in bundle["link"]}
    assert set(relations) == {"self", "first", "next"}
    second = fhir.get(relations["next"].split("/fhir/", 1)[1]).get_json()
    second_links = {link["relation"]: link["url"] for link in second["link"]}
    assert "_cursor" in second_links["self"]
    assert second_links["first"] == relations["first"]


def test_token_text_is_folded_and_literal(fhir):
    cond = fhir.create(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p"},
            "code": {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "40468003",
                        "display": "Viral hepatitis",
                    }
                ],
                "text": "Hépatite virale",
            },
        }
    )["id"]
    assert ids(fhir.get("Condition?code:text=hepatite")) == {cond}  # the concept's text
    assert ids(fhir.get("Condition?code:text=VIRAL")) == {cond}  # a coding's display
    assert ids(fhir.get("Condition?code:text=%25")) == set()  # % is literal


def test_last_updated_is_a_millisecond_range(fhir):
    created = fhir.create({"resourceType": "Basic", "code": {"text": "x"}})
    stamp = created["meta"]["lastUpdated"]  # e.g. 2026-01-01T00:00:00.123Z
    assert ids(fhir.get(f"Basic?_lastUpdated={stamp}")) == {created["id"]}
    assert ids(fhir.get(f"Basic?_lastUpdated=ge{stamp}")) == {created["id"]}
    assert ids(fhir.get(f"Basic?_lastUpdated=gt{stamp}")) == set()
    assert ids(fhir.get(f"Basic?_lastUpdated=lt{stamp}")) == set()
