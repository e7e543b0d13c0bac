"""Patient compartment search and Patient/$everything."""

from __future__ import annotations

from tests.conftest import server_provenance


def refs(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in resp.get_json().get("entry", [])
        if not server_provenance(e["resource"])
    }


def setup(fhir):
    org = fhir.create({"resourceType": "Organization", "name": "Clinic"})["id"]
    pat = fhir.create(
        {"resourceType": "Patient", "managingOrganization": {"reference": f"Organization/{org}"}}
    )["id"]
    other = fhir.create({"resourceType": "Patient"})["id"]

    def obs(patient: str, text: str) -> str:
        return fhir.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": text},
                "subject": {"reference": f"Patient/{patient}"},
            }
        )["id"]

    cond = fhir.create(
        {
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{pat}"},
            "code": {"text": "x"},
        }
    )["id"]
    return {
        "org": org,
        "pat": pat,
        "other": other,
        "obs": obs(pat, "mine"),
        "other_obs": obs(other, "theirs"),
        "cond": cond,
    }


def test_compartment_search_by_type(fhir):
    w = setup(fhir)
    assert refs(fhir.get(f"Patient/{w['pat']}/Observation")) == {f"Observation/{w['obs']}"}
    assert refs(fhir.get(f"Patient/{w['other']}/Observation")) == {f"Observation/{w['other_obs']}"}


def test_compartment_search_with_criteria(fhir):
    w = setup(fhir)
    assert refs(fhir.get(f"Patient/{w['pat']}/Observation?code:text=mine")) == {
        f"Observation/{w['obs']}"
    }
    assert refs(fhir.get(f"Patient/{w['pat']}/Observation?code:text=theirs")) == set()


def test_compartment_star(fhir):
    w = setup(fhir)
    assert refs(fhir.get(f"Patient/{w['pat']}/*")) == {
        f"Patient/{w['pat']}",
        f"Observation/{w['obs']}",
        f"Condition/{w['cond']}",
    }


def test_compartment_errors(fhir):
    w = setup(fhir)
    assert fhir.get(f"Patient/{w['pat']}/Organization").status_code == 400  # not in compartment
    assert fhir.get("Basic/e1/Observation").status_code == 400  # not a compartment
    assert fhir.get(f"Patient/{w['pat']}/Nonsense").status_code == 404


def test_everything(fhir):
    w = setup(fhir)
    found = refs(fhir.get(f"Patient/{w['pat']}/$everything"))
    assert found == {
        f"Patient/{w['pat']}",
        f"Observation/{w['obs']}",
        f"Condition/{w['cond']}",
        f"Organization/{w['org']}",  # referenced by the patient
    }
    only_obs = refs(fhir.get(f"Patient/{w['pat']}/$everything?_type=Observation"))
    assert only_obs == {f"Observation/{w['obs']}"}
    assert fhir.get("Patient/nobody/$everything").status_code == 404


def test_everything_since_and_paging(fhir):
    w = setup(fhir)
    import time

    time.sleep(0.01)
    later = fhir.put(
        f"Observation/{w['obs']}",
        {
            "resourceType": "Observation",
            "id": w["obs"],
            "status": "amended",
            "code": {"text": "mine"},
            "subject": {"reference": f"Patient/{w['pat']}"},
        },
    ).get_json()["meta"]["lastUpdated"]
    assert refs(fhir.get(f"Patient/{w['pat']}/$everything?_since={later}")) == {
        f"Observation/{w['obs']}"
    }
    seen, url = set(), f"Patient/{w['pat']}/$everything?_count=1"
    while url:
        bundle = fhir.get(url).get_json()
        seen |= {
            e["resource"]["id"]
            for e in bundle.get("entry", [])
            if e["search"]["mode"] == "match" and not server_provenance(e["resource"])
        }
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else None
    assert seen == {w["pat"], w["obs"], w["cond"]}
