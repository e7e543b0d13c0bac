"""Custom SearchParameters: accepted only when indexable, reindexed in the background,
searchable once the reindex completes, advertised in the CapabilityStatement."""

from __future__ import annotations

import time

from conftest import outcome_codes

MAIDEN = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"


def maiden_name_parameter() -> dict:
    return {
        "resourceType": "SearchParameter",
        "url": "https://fireside.example/SearchParameter/mothers-maiden-name",
        "name": "MothersMaidenName",
        "status": "active",
        "description": "Search by the mother's maiden name",
        "code": "mothers-maiden-name",
        "base": ["Patient"],
        "type": "string",
        "expression": f"Patient.extension.where(url='{MAIDEN}').value",
    }


def patient(maiden: str) -> dict:
    return {"resourceType": "Patient", "extension": [{"url": MAIDEN, "valueString": maiden}]}


def wait_active(fhir, sp_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        resp = fhir.get(f"SearchParameter/{sp_id}/$index-status")
        assert resp.status_code == 200, resp.get_json()
        state = {
            p["name"]: next(v for k, v in p.items() if k.startswith("value"))
            for p in resp.get_json()["parameter"]
        }
        if state["status"] != "reindexing" or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def test_reindex_covers_existing_and_new_resources(fhir, app):
    before = [fhir.create(patient(name))["id"] for name in ("Adebayo", "Mensah", "Adewale")]
    sp_id = fhir.create(maiden_name_parameter())["id"]
    state = wait_active(fhir, sp_id)
    assert state == {"status": "active", "processed": 3, "total": 3}
    after = fhir.create(patient("Adeyemi"))["id"]
    found = ids(fhir.get("Patient?mothers-maiden-name=ade"))
    assert found == {before[0], before[2], after}
    params = {
        p["name"]
        for r in fhir.get("metadata").get_json()["rest"][0]["resource"]
        if r["type"] == "Patient"
        for p in r["searchParam"]
    }
    assert "mothers-maiden-name" in params


def test_parameter_is_not_searchable_before_its_reindex_completes(fhir, app, db):
    import sqlalchemy as sa

    from platform_core.db.schema import search_param_table

    sp_id = fhir.create(maiden_name_parameter())["id"]
    wait_active(fhir, sp_id)
    with db.begin() as conn:  # as while a reindex is running
        conn.execute(sa.update(search_param_table).values(status="reindexing", processed=1))
    app.extensions["fireside"].repository.custom.invalidate()
    resp = fhir.get("Patient?mothers-maiden-name=ade")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3003"]
    assert "reindex" in resp.get_json()["issue"][0]["diagnostics"]


def test_unindexable_parameter_is_rejected(fhir, counts):
    before = counts()
    bad = {**maiden_name_parameter(), "expression": "Patient.name.select(family)"}
    resp = fhir.post("SearchParameter", bad)
    assert resp.status_code == 400
    assert "expression" in resp.get_json()["issue"][0]["diagnostics"]
    clash = {**maiden_name_parameter(), "code": "name"}
    assert fhir.post("SearchParameter", clash).status_code == 400
    composite = {**maiden_name_parameter(), "type": "composite"}
    assert fhir.post("SearchParameter", composite).status_code == 400
    assert counts() == before


def test_deleted_parameter_stops_being_used(fhir):
    sp_id = fhir.create(maiden_name_parameter())["id"]
    wait_active(fhir, sp_id)
    assert fhir.delete(f"SearchParameter/{sp_id}").status_code == 204
    assert fhir.get("Patient?mothers-maiden-name=ade").status_code == 400


def test_reindex_is_resumable_batch_by_batch(fhir, app, db):
    import sqlalchemy as sa

    from platform_core.db.schema import search_param_table

    repository = app.extensions["fireside"].repository
    made = [fhir.create(patient(f"Name{i}"))["id"] for i in range(5)]
    sp_id = fhir.create(maiden_name_parameter())["id"]
    wait_active(fhir, sp_id)
    # Start over as if a process had died after two batches of two.
    with db.begin() as conn:
        conn.execute(
            sa.update(search_param_table).values(status="reindexing", cursor_rid=0, processed=0)
        )
    repository.custom.invalidate()
    assert repository.reindexer.step(sp_id, batch=2) is True
    assert repository.reindexer.step(sp_id, batch=2) is True
    with db.connect() as conn:
        done = conn.execute(sa.select(search_param_table.c.processed)).scalar_one()
    assert done == 4
    repository.reindexer.resume_all()  # what a restarted process does
    repository.reindexer.wait()
    assert wait_active(fhir, sp_id)["status"] == "active"
    assert ids(fhir.get("Patient?mothers-maiden-name=name")) == set(made)
