"""Search statements from per-shape templates (``statement_cache``): a search executed from
a template another search of its shape built finds exactly what a statement built for it
finds, on every page, forward and back; and a shape whose template would not be faithful is
never kept."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from platform_core.fhir.search import slots
from platform_core.fhir.search.statement_cache import TEMPLATES, TemplateCache
from tests.fhir_search.test_sort import families, walk_back


def _ids(fhir: Any, url: str) -> list[str]:
    out: list[str] = []
    while url:
        resp = fhir.get(url)
        assert resp.status_code == 200, resp.get_json()
        bundle = resp.get_json()
        out += [e["resource"]["id"] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else ""
    return out


@pytest.fixture
def records(fhir: Any) -> dict[str, str]:
    """Patients and their Observations with values every pair of searches below tells
    apart."""
    made: dict[str, str] = {}
    people = [
        ("Adams", "Ann", "1971-03-04", "male"),
        ("Baker", "Bea", "1982-07-08", "female"),
        ("Bakerson", "Bob", "1982-12-30", "male"),
        ("Çelik", "Can", "1990-01-01", "other"),
        ("Adamski", "Ada", "1971-11-11", "female"),
    ]
    for i, (family, given, born, gender) in enumerate(people):
        made[family] = fhir.create(
            {
                "resourceType": "Patient",
                "identifier": [
                    {"system": "urn:mrn", "value": f"MRN{i}"},
                    {"value": f"LOCAL{i}"},
                ],
                "name": [{"family": family, "given": [given]}],
                "birthDate": born,
                "gender": gender,
            }
        )["id"]
        for day, code in ((1, "8867-4"), (2, "8310-5"), (3, "8867-4")):
            fhir.create(
                {
                    "resourceType": "Observation",
                    "status": "final" if day != 2 else "amended",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": f"Patient/{made[family]}"},
                    "effectiveDateTime": f"2024-0{i + 1}-0{day}T10:00:00+01:00",
                }
            )
    return made


# Pairs of searches of one shape: the second runs from the template the first built.
PAIRS = [
    ("Patient?name=ada", "Patient?name=bak"),
    ("Patient?name:exact=Baker", "Patient?name:exact=Adams"),
    ("Patient?name:contains=ake", "Patient?name:contains=dam"),
    ("Patient?name=ada,cel", "Patient?name=bak,zzz"),
    ("Patient?gender=male", "Patient?gender=female"),
    ("Patient?gender:not=male", "Patient?gender:not=female"),
    ("Patient?identifier=urn:mrn|MRN1", "Patient?identifier=urn:mrn|MRN3"),
    ("Patient?identifier=|LOCAL1", "Patient?identifier=|LOCAL2"),
    ("Patient?identifier=urn:mrn|", "Patient?identifier=urn:other|"),
    ("Patient?birthdate=1971", "Patient?birthdate=1982"),
    ("Patient?birthdate=ge1980", "Patient?birthdate=ge1971-06"),
    (
        "Patient?birthdate=ge1971-06-01&birthdate=lt1983",
        "Patient?birthdate=ge1982&birthdate=lt1991",
    ),
    ("Patient?birthdate=ne1971", "Patient?birthdate=ne1982"),
    ("Observation?code=http://loinc.org|8867-4", "Observation?code=http://loinc.org|8310-5"),
    (
        "Observation?date=ge2024-02-01&date=lt2024-03-01",
        "Observation?date=ge2024-04-02&date=le2024-05",
    ),
    ("Observation?status=final&code=8310-5", "Observation?status=amended&code=8310-5"),
    ("Observation?subject:Patient.name=ada", "Observation?subject:Patient.name=bak"),
    ("Observation?subject:Patient.birthdate=1982", "Observation?subject:Patient.birthdate=1971"),
]


def _fresh(fhir: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What a statement built for ``url`` itself finds (templates switched off)."""
    with monkeypatch.context() as patched:
        patched.setattr(TemplateCache, "get", lambda self, key, values, build: None)
        return _ids(fhir, url)


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_a_search_run_from_its_shapes_template_finds_what_its_own_statement_finds(
    fhir, records, monkeypatch, first, second
):
    expected = {url: _fresh(fhir, f"{url}&_count=2", monkeypatch) for url in (first, second)}
    assert expected[first] != expected[second], "the pair must tell the values apart"
    TEMPLATES.clear()
    for url in (first, second, first):
        assert _ids(fhir, f"{url}&_count=2") == expected[url], url
    assert TEMPLATES.kept() >= 1
    kept = TEMPLATES.kept()
    assert _ids(fhir, f"{second}&_count=2") == expected[second]
    assert TEMPLATES.kept() == kept  # the same shapes: no new template


@pytest.mark.parametrize("url", ["Patient?birthdate=ge1900&_count=2", "Patient?gender:not=other"])
def test_pages_walked_back_from_templates_match_the_pages_forward(fhir, records, url):
    TEMPLATES.clear()
    url = url if "_count" in url else f"{url}&_count=2"
    for _ in range(2):  # the second walk runs every page, both ways, from templates
        forward = families(fhir, url)
        assert len(forward) == 4 if "gender" in url else len(forward) == 5
        assert walk_back(fhir, url) == forward


def test_ids_of_any_number_run_from_one_template(fhir, records):
    ids = list(records.values())
    TEMPLATES.clear()
    assert sorted(_ids(fhir, f"Patient?_id={ids[0]}")) == [ids[0]]
    assert sorted(_ids(fhir, f"Patient?_id={','.join(ids[1:4])}")) == sorted(ids[1:4])
    assert _ids(fhir, "Patient?_id=absent") == []


def test_a_template_whose_slots_differ_from_the_expected_values_is_not_kept(caplog):
    cache = TemplateCache()
    table = sa.table("t", sa.column("a"))

    def build() -> Any:
        return sa.select(table).where(table.c.a == slots.slot("x"))

    with caplog.at_level(logging.WARNING):
        assert cache.get(("t", "shape"), ["y", "z"], build) is None
    assert "slotted 1 values where 2 were expected" in caplog.text
    assert cache.get(("t", "shape"), ["y", "z"], build) is None  # remembered as refused
    assert cache.kept() == 0


def test_a_template_binding_a_value_outside_its_slots_is_not_kept(caplog):
    cache = TemplateCache()
    table = sa.table("t", sa.column("a"), sa.column("b"))

    def build() -> Any:
        # "leaked" comes from the search but is bound as a constant: a later search of the
        # shape would silently reuse it.
        return sa.select(table).where(table.c.a == slots.slot("x"), table.c.b == "leaked")

    with caplog.at_level(logging.WARNING):
        assert cache.get(("t", 21), ["x"], build) is None
    assert "binds 'leaked' outside its slots" in caplog.text
    kept = cache.get(("t", 21, "leaked"), ["x"], build)  # a constant of the shape is fine
    assert kept is not None and kept.params(["q"]) == {"v0": "q"}


@pytest.mark.parametrize(
    ("primer", "bad"),
    [
        ("Patient?birthdate=1971", "Patient?birthdate=19x1"),
        (
            "Patient?birthdate=ge1971-06&birthdate=lt1983",
            "Patient?birthdate=ge1971-13&birthdate=lt1983",
        ),
        ("Observation?date=ge2024-02-01", "Observation?date=gefebruary"),
        ("Observation?code=8867-4", "Observation?code=8867-4&_cursor=not-a-cursor"),
    ],
)
def test_bad_values_in_a_templated_shape_are_400_and_write_nothing(
    fhir, records, counts, primer, bad
):
    TEMPLATES.clear()
    assert fhir.get(primer).status_code == 200
    assert TEMPLATES.kept() >= 1
    before = counts()
    resp = fhir.get(bad)
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"]
    assert counts() == before


def test_a_template_built_for_a_system_caller_leaks_nothing_to_a_patient_or_anonymous(
    fhir, fhir_as, records, app
):
    TEMPLATES.clear()
    everyone = _ids(fhir, "Observation?code=http://loinc.org|8867-4&_count=3")
    assert len(everyone) == 10  # the system caller's search built the shape's template
    mine = records["Baker"]
    patient = fhir_as("patient/*.rs", patient=mine)
    found = []
    url = "Observation?code=http://loinc.org|8867-4&_count=3"
    while url:
        bundle = patient.get(url).get_json()
        found += [e["resource"]["subject"]["reference"] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else ""
    assert found == [f"Patient/{mine}"] * 2
    assert _ids(patient, f"Patient?_id={records['Adams']}") == []  # another patient: none
    anonymous = app.test_client().get("/fhir/Observation?code=http://loinc.org|8867-4")
    assert anonymous.status_code == 401
    assert "entry" not in (anonymous.get_json() or {})
