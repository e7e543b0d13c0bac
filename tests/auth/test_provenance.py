"""Every write through the API carries a Provenance, committed with it."""

from __future__ import annotations

from tests.auth.conftest import make_user


def provenances(fhir, target: str) -> list[dict]:
    bundle = fhir.get(f"Provenance?target={target}").get_json()
    return [e["resource"] for e in bundle.get("entry", [])]


def test_create_update_delete_each_get_a_provenance(db, fhir, fhir_as):
    patient = fhir.create({"resourceType": "Patient"})["id"]
    doctor = make_user(
        db, "practitioner", fhir_user="Practitioner/p1", patients=[(patient, "care")]
    )
    client = fhir_as("user/Observation.cruds", user_id=doctor, generation=0, client_id="clinic-app")
    obs = {
        "resourceType": "Observation",
        "status": "preliminary",
        "code": {"text": "w"},
        "subject": {"reference": f"Patient/{patient}"},
    }
    created = client.post("Observation", obs).get_json()
    client.put(f"Observation/{created['id']}", dict(obs, id=created["id"], status="final"))
    client.delete(f"Observation/{created['id']}")
    found = provenances(fhir, f"Observation/{created['id']}")
    by_target = {p["target"][0]["reference"]: p for p in found}
    assert set(by_target) == {f"Observation/{created['id']}/_history/{v}" for v in (1, 2, 3)}
    activities = {
        t.rsplit("/", 1)[1]: p["activity"]["coding"][0]["code"] for t, p in by_target.items()
    }
    assert activities == {"1": "CREATE", "2": "UPDATE", "3": "DELETE"}
    first = by_target[f"Observation/{created['id']}/_history/1"]
    assert first["agent"][0]["who"] == {"reference": "Practitioner/p1"}
    assert first["agent"][0]["onBehalfOf"]["identifier"]["value"] == "clinic-app"
    assert first["recorded"] == created["meta"]["lastUpdated"]


def test_a_refused_write_leaves_no_provenance(fhir, fhir_as, counts):
    a = fhir.create({"resourceType": "Patient"})["id"]
    b = fhir.create({"resourceType": "Patient"})["id"]
    before = counts()
    writer = fhir_as("patient/*.cruds", patient=a)
    resp = writer.post(
        "Observation",
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": f"Patient/{b}"},
        },
    )
    assert resp.status_code == 403
    assert counts() == before
