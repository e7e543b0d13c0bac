"""Searches whose page is read from one index table alone (``sql.page_from_index``): every
match once, in ``rid`` order, forward and back, and never a deleted resource."""

from __future__ import annotations

from tests.fhir_search.test_sort import families, walk_back


def named(family: str, birth: str, *given: str) -> dict:
    first: dict = {"family": family, **({"given": list(given)} if given else {})}
    return {
        "resourceType": "Patient",
        "name": [first, {"family": family + "son"}],
        "birthDate": birth,
    }


def test_a_match_with_several_matching_values_is_one_entry_on_one_page(fhir):
    # "Ann", "Anna" and "Annabel" all start with "ann": three index rows for one resource.
    for i in range(5):
        fhir.create(named(f"Ann{i}", "1980-03-0" + str(i + 1), "Anna", "Annabel"))
    fhir.create(named("Other", "1990-01-01", "Zed"))
    found = families(fhir, "Patient?name=ann&_count=2")
    assert found == [f"Ann{i}" for i in range(5)]
    assert walk_back(fhir, "Patient?name=ann&_count=2") == found


def test_and_ed_dates_on_one_parameter_page_forward_and_back(fhir):
    for i in range(7):
        fhir.create(named(f"Y{i}", f"198{i}-06-15"))
    url = "Patient?birthdate=ge1981-01-01&birthdate=lt1986-01-01&_count=2"
    assert families(fhir, url) == [f"Y{i}" for i in range(1, 6)]
    assert walk_back(fhir, url) == [f"Y{i}" for i in range(1, 6)]


def test_a_deleted_match_is_not_on_any_page(fhir):
    ids = [fhir.create(named(f"Del{i}", "1970-01-01"))["id"] for i in range(4)]
    assert fhir.delete(f"Patient/{ids[1]}").status_code in (200, 204)
    assert families(fhir, "Patient?birthdate=1970&_count=1") == ["Del0", "Del2", "Del3"]
    bundle = fhir.get("Patient?birthdate=1970&_count=3").get_json()
    assert "next" not in [link["relation"] for link in bundle["link"]]  # all on one page


def test_a_chained_search_pages_every_match_once(fhir):
    pid = fhir.create(named("Chain", "1960-01-01"))["id"]
    other = fhir.create(named("Elsewhere", "1960-01-01"))["id"]
    observations = [
        fhir.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": f"reading {i}"},
                "subject": {"reference": f"Patient/{pid if i != 2 else other}"},
            }
        )["id"]
        for i in range(6)
    ]
    url = "Observation?subject:Patient.name=chain&_count=2"
    found = []
    while url:
        bundle = fhir.get(url).get_json()
        found += [e["resource"]["id"] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else ""
    assert found == [o for i, o in enumerate(observations) if i != 2]
