"""Composite parameters: the components must match on the same element."""

from __future__ import annotations

import json


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def blood_pressure(fhir, systolic: str, diastolic: str) -> str:
    def component(code: str, value: str) -> str:
        return (
            '{"code":{"coding":[{"system":"http://loinc.org","code":"' + code + '"}]},'
            '"valueQuantity":{"value":' + value + ',"unit":"mmHg",'
            '"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}'
        )

    body = (
        '{"resourceType":"Observation","status":"final",'
        '"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},'
        f'"component":[{component("8480-6", systolic)},{component("8462-4", diastolic)}]}}'
    )
    resp = fhir.post("Observation", raw=body.encode())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def test_component_code_value_quantity(fhir):
    high = blood_pressure(fhir, "150", "95")
    normal = blood_pressure(fhir, "118", "76")
    q = "Observation?component-code-value-quantity="
    assert ids(fhir.get(q + "http://loinc.org|8480-6$gt140")) == {high}
    assert ids(fhir.get(q + "http://loinc.org|8480-6$lt140")) == {normal}
    # 95 is a diastolic value: it must not pair with the systolic code
    assert ids(fhir.get(q + "http://loinc.org|8480-6$95")) == set()
    assert ids(fhir.get(q + "http://loinc.org|8462-4$95")) == {high}
    assert ids(fhir.get(q + "8462-4$76|http://unitsofmeasure.org|mm[Hg]")) == {normal}
    combo = "Observation?combo-code-value-quantity=http://loinc.org|8480-6$gt140"
    assert ids(fhir.get(combo)) == {high}


def test_code_value_concept(fhir):
    body = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "883-9"}]},
        "valueCodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": "112144000"}]
        },
    }
    obs = fhir.post("Observation", raw=json.dumps(body).encode()).get_json()["id"]
    q = "Observation?code-value-concept="
    assert ids(fhir.get(q + "http://loinc.org|883-9$http://snomed.info/sct|112144000")) == {obs}
    assert ids(fhir.get(q + "883-9$112144000")) == {obs}
    assert ids(fhir.get(q + "883-9$999")) == set()


def test_composite_bad_value_is_400(fhir):
    resp = fhir.get("Observation?component-code-value-quantity=8480-6")
    assert resp.status_code == 400
    assert "component-code-value-quantity" in resp.get_json()["issue"][0]["expression"]
    assert fhir.get("Observation?component-code-value-quantity=8480-6$high").status_code == 400
