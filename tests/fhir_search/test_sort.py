"""_sort on one or several keys, ascending and descending, with keyset paging."""

from __future__ import annotations


def patient(family: str | None, birth: str | None) -> dict:
    body: dict = {"resourceType": "Patient"}
    if family:
        body["name"] = [{"family": family}]
    if birth:
        body["birthDate"] = birth
    return body


def families(fhir, url: str) -> list[str | None]:
    out: list[str | None] = []
    while url:
        resp = fhir.get(url)
        assert resp.status_code == 200, resp.get_json()
        bundle = resp.get_json()
        for e in bundle.get("entry", []):
            names = e["resource"].get("name")
            out.append(names[0]["family"] if names else None)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else ""
    return out


def test_sort_by_string_both_ways_with_paging(fhir):
    for family in ("Okafor", "adeyemi", "Bello", "Mensah", "Zoë"):
        fhir.create(patient(family, None))
    fhir.create(patient(None, None))
    assert families(fhir, "Patient?_sort=family&_count=2") == [
        "adeyemi",
        "Bello",
        "Mensah",
        "Okafor",
        "Zoë",
        None,  # no value: last
    ]
    assert families(fhir, "Patient?_sort=-family&_count=4") == [
        "Zoë",
        "Okafor",
        "Mensah",
        "Bello",
        "adeyemi",
        None,
    ]


def test_sort_by_several_keys(fhir):
    fhir.create(patient("B", "2001-01-01"))
    fhir.create(patient("A", "2001-01-01"))
    fhir.create(patient("C", "1999-05-05"))
    fhir.create(patient("D", "2005-01-01"))
    assert families(fhir, "Patient?_sort=birthdate,family&_count=1") == ["C", "A", "B", "D"]
    assert families(fhir, "Patient?_sort=-birthdate,-family&_count=3") == ["D", "B", "A", "C"]


def test_sort_with_ties_pages_every_resource_once(fhir):
    for _ in range(7):
        fhir.create(patient("Same", None))
    assert len(families(fhir, "Patient?_sort=family&_count=3")) == 7


def test_sort_by_last_updated_and_id(fhir):
    for family in ("first", "second", "third"):
        fhir.create(patient(family, None))
    assert families(fhir, "Patient?_sort=-_lastUpdated") == ["third", "second", "first"]
    assert len(families(fhir, "Patient?_sort=_id&_count=1")) == 3


def test_bad_sort_is_400(fhir):
    assert fhir.get("Patient?_sort=shoe-size").status_code == 400
    assert fhir.get("Patient?_sort=family&_cursor=garbage").status_code == 400


def walk_back(fhir, url: str) -> list[str | None]:
    """Go forward to the last page, then follow previous links back to the start."""
    while True:
        bundle = fhir.get(url).get_json()
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            break
        url = nxt[0].split("/fhir/", 1)[1]
    pages = []
    while url:
        bundle = fhir.get(url).get_json()
        pages.append(
            [(e["resource"].get("name") or [{}])[0].get("family") for e in bundle.get("entry", [])]
        )
        prev = [link["url"] for link in bundle["link"] if link["relation"] == "previous"]
        url = prev[0].split("/fhir/", 1)[1] if prev else ""
    return [name for page in reversed(pages) for name in page]


def test_previous_links_walk_back_in_order(fhir):
    for family in ("Okafor", "adeyemi", "Bello", "Mensah", "Zoë"):
        fhir.create(patient(family, None))
    fhir.create(patient(None, None))
    forward = families(fhir, "Patient?_sort=-family&_count=2")
    assert walk_back(fhir, "Patient?_sort=-family&_count=2") == forward
    unsorted = families(fhir, "Patient?_count=4")
    assert walk_back(fhir, "Patient?_count=4") == unsorted


def test_total_modes(fhir):
    for family in ("A", "B", "C"):
        fhir.create(patient(family, None))
    assert fhir.get("Patient?_total=accurate&_count=1").get_json()["total"] == 3
    assert fhir.get("Patient?_total=estimate&_count=1").get_json()["total"] >= 0
    assert "total" not in fhir.get("Patient?_total=none").get_json()
