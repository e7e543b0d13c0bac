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


def test_a_patient_scoped_token_pages_only_its_own_compartment(fhir, fhir_as, counts):
    mine = fhir.create(named("Mine", "1975-05-05"))["id"]
    theirs = fhir.create(named("Theirs", "1975-06-06"))["id"]
    for pid in (mine, theirs, mine):
        fhir.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "bp"},
                "subject": {"reference": f"Patient/{pid}"},
            }
        )
    client = fhir_as("patient/*.rs", patient=mine)
    before = counts()
    assert families(client, "Patient?birthdate=1975&_count=1") == ["Mine"]
    subjects = set()
    url = "Observation?subject:Patient.birthdate=1975&_count=1"
    while url:
        chained = client.get(url).get_json()
        subjects |= {e["resource"]["subject"]["reference"] for e in chained.get("entry", [])}
        nxt = [link["url"] for link in chained["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else ""
    assert subjects == {f"Patient/{mine}"}
    assert client.get("Patient?birthdate=1975").get_json()["total"] == 1
    assert counts() == before


def test_bad_values_and_cursors_are_400_on_the_index_path(fhir, counts):
    fhir.create(named("Cursor", "1990-01-01"))
    before = counts()
    for url in (
        "Patient?birthdate=ge1990-13-01",
        "Patient?birthdate=ge1990&birthdate=ltnever",
        "Patient?name=cur&_cursor=not-a-cursor",
    ):
        resp = fhir.get(url)
        assert resp.status_code == 400, url
        assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert counts() == before
