"""_include and _revinclude, with :iterate, as the spec's examples use them."""

from __future__ import annotations

from tests.conftest import server_provenance


def entries(resp) -> dict[str, set[str]]:
    assert resp.status_code == 200, resp.get_json()
    out: dict[str, set[str]] = {"match": set(), "include": set()}
    for e in resp.get_json().get("entry", []):
        r = e["resource"]
        if not server_provenance(r):
            out[e["search"]["mode"]].add(f"{r['resourceType']}/{r['id']}")
    return out


def setup_records(fhir):
    org = fhir.create({"resourceType": "Organization", "name": "Clinic"})["id"]
    pat = fhir.create(
        {"resourceType": "Patient", "managingOrganization": {"reference": f"Organization/{org}"}}
    )["id"]
    other = fhir.create({"resourceType": "Patient"})["id"]
    obs = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "weight"},
            "subject": {"reference": f"Patient/{pat}"},
        }
    )["id"]
    prov = fhir.create(
        {
            "resourceType": "Provenance",
            "target": [{"reference": f"Observation/{obs}"}],
            "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": f"Organization/{org}"}}],
        }
    )["id"]
    return org, pat, other, obs, prov


def test_include_follows_references(fhir):
    _org, pat, _other, obs, _ = setup_records(fhir)
    found = entries(fhir.get(f"Observation?_id={obs}&_include=Observation:subject"))
    assert found == {"match": {f"Observation/{obs}"}, "include": {f"Patient/{pat}"}}
    typed = entries(fhir.get(f"Observation?_id={obs}&_include=Observation:subject:Group"))
    assert typed["include"] == set()


def test_include_iterate_goes_further(fhir):
    org, pat, _other, obs, _ = setup_records(fhir)
    found = entries(
        fhir.get(
            f"Observation?_id={obs}&_include=Observation:subject"
            "&_include:iterate=Patient:organization"
        )
    )
    assert found["include"] == {f"Patient/{pat}", f"Organization/{org}"}
    without = entries(
        fhir.get(
            f"Observation?_id={obs}&_include=Observation:subject&_include=Patient:organization"
        )
    )
    assert without["include"] == {f"Patient/{pat}"}


def test_revinclude(fhir):
    _org, pat, other, obs, prov = setup_records(fhir)
    found = entries(fhir.get(f"Patient?_id={pat},{other}&_revinclude=Observation:subject"))
    assert found == {
        "match": {f"Patient/{pat}", f"Patient/{other}"},
        "include": {f"Observation/{obs}"},
    }
    chain = entries(
        fhir.get(
            f"Patient?_id={pat}&_revinclude=Observation:subject"
            "&_revinclude:iterate=Provenance:target"
        )
    )
    assert chain["include"] == {f"Observation/{obs}", f"Provenance/{prov}"}


def test_include_wildcard(fhir):
    org, pat, _other, _obs, _ = setup_records(fhir)
    found = entries(fhir.get(f"Patient?_id={pat}&_include=*"))
    assert found["include"] == {f"Organization/{org}"}


def test_bad_include_is_400(fhir):
    assert fhir.get("Observation?_include=Observation:status").status_code == 400
    assert fhir.get("Observation?_include=Nonsense").status_code == 400
    assert fhir.get("Observation?_include:deep=Observation:subject").status_code == 400
    lenient = fhir.get("Observation?_include=Nonsense", headers={"Prefer": "handling=lenient"})
    assert lenient.status_code == 200


def test_list_parameter(fhir):
    a = fhir.create({"resourceType": "Patient"})["id"]
    b = fhir.create({"resourceType": "Patient"})["id"]
    fhir.create({"resourceType": "Patient"})
    lst = fhir.create(
        {
            "resourceType": "List",
            "id": "x",
            "status": "current",
            "mode": "working",
            "entry": [
                {"item": {"reference": f"Patient/{a}"}},
                {"item": {"reference": f"Patient/{b}"}},
            ],
        }
    )["id"]
    found = entries(fhir.get(f"Patient?_list={lst}"))
    assert found["match"] == {f"Patient/{a}", f"Patient/{b}"}
