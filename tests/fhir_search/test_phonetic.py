"""The ``phonetic`` parameter: family and given names that sound alike (American Soundex)."""

from __future__ import annotations

from typing import Any

import pytest

from platform_core.fhir.search.phonetic import soundex
from tests.conftest import outcome_codes


def ids(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Robert", "R163"),
        ("Rupert", "R163"),
        ("Rubin", "R150"),
        ("Ashcraft", "A261"),  # h does not separate s and c
        ("Tymczak", "T522"),
        ("Pfister", "P236"),  # the first letter's code is not repeated
        ("Honeyman", "H555"),
        ("Lee", "L000"),
        ("Núñez", "N520"),
        ("Strauß", "S362"),
        ("Ōkafor", "O216"),
    ],
)
def test_soundex(name, key):
    assert soundex(name) == key


def test_no_key_without_latin_letters():
    assert soundex("123") is None
    assert soundex("李") is None


def patient(fhir: Any, rtype: str = "Patient", **name: Any) -> str:
    body: dict[str, Any] = {"resourceType": rtype, "name": [name]}
    if rtype == "RelatedPerson":
        body["patient"] = {"reference": "Patient/p1"}
    return fhir.create(body)["id"]


def test_names_that_sound_alike(fhir):
    smith = patient(fhir, family="Smith", given=["John"])
    smyth = patient(fhir, family="Smyth", given=["Jon", "Paul"])
    schultz = patient(fhir, family="Schultz", given=["Joan"])
    van = patient(fhir, family="van der Berg", given=["Ana-María"])
    assert ids(fhir.get("Patient?phonetic=Smithe")) == {smith, smyth}
    assert ids(fhir.get("Patient?phonetic=jhon")) == {smith, smyth, schultz}
    assert ids(fhir.get("Patient?phonetic=John Smith")) == {smith, smyth}  # every word
    assert ids(fhir.get("Patient?phonetic=Smith,Shults")) == {smith, smyth, schultz}
    either = fhir.get("Patient?phonetic=Smith,Shults&_total=accurate&_count=1")
    assert either.get_json()["total"] == 3
    assert ids(fhir.get("Patient?phonetic=Schmidt")) == {smith, smyth}  # Soundex: S530 too
    assert ids(fhir.get("Patient?phonetic=Berk")) == {van}
    assert ids(fhir.get("Patient?phonetic=maria")) == {van}
    assert ids(fhir.get("Patient?phonetic=Paula")) == {smyth}
    assert ids(fhir.get("Patient?phonetic=Wong")) == set()
    resp = fhir.get("Patient?phonetic=smith&_total=accurate&_count=1")
    assert resp.get_json()["total"] == 2
    assert ids(fhir.get("Patient?phonetic:missing=false&phonetic=smith")) == {smith, smyth}


def test_other_types_updates_and_chains(fhir):
    pract = patient(fhir, "Practitioner", family="Okafor", given=["Chidi"])
    related = patient(fhir, "RelatedPerson", family="Okafur")
    assert ids(fhir.get("Practitioner?phonetic=okafur")) == {pract}
    body = fhir.get(f"RelatedPerson/{related}").get_json()
    assert ids(fhir.get("RelatedPerson?phonetic=okafor")) == {related}
    body["name"] = [{"family": "Mensah"}]
    assert fhir.put(f"RelatedPerson/{related}", body).status_code == 200
    assert ids(fhir.get("RelatedPerson?phonetic=mensa")) == {related}
    assert ids(fhir.get("RelatedPerson?phonetic=okafor")) == set()
    obs = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "performer": [{"reference": f"Practitioner/{pract}"}],
        }
    )["id"]
    assert ids(fhir.get("Observation?performer:Practitioner.phonetic=okafr")) == {obs}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("Patient?phonetic=123", "FS-3002"),
        ("Patient?phonetic:exact=Smith", "FS-3003"),
        ("Patient?phonetic:contains=mit", "FS-3003"),
    ],
)
def test_bad_phonetic_searches_are_400(fhir, counts, query, code):
    before = counts()
    resp = fhir.get(query)
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == [code]
    assert resp.get_json()["issue"][0]["expression"][0].startswith("phonetic")
    assert counts() == before


def test_phonetic_is_advertised(fhir):
    resources = fhir.get("metadata").get_json()["rest"][0]["resource"]
    for rtype in ("Patient", "Practitioner", "Person", "RelatedPerson"):
        params = next(r for r in resources if r["type"] == rtype)["searchParam"]
        assert {"name": "phonetic", "type": "string"} in params
