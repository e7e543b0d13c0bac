"""Concurrency over real HTTP: conditional creates, competing updates, racing transactions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests


def patient(mrn: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}]}


def test_parallel_conditional_creates_make_exactly_one(live_server, http_headers, fhir):
    def create(_: int) -> int:
        resp = requests.post(
            f"{live_server}/fhir/Patient",
            json=patient("race-1"),
            headers={**http_headers, "If-None-Exist": "identifier=urn:mrn|race-1"},
            timeout=30,
        )
        return resp.status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(create, range(20)))
    assert statuses.count(201) == 1, statuses
    assert statuses.count(200) == 19, statuses
    assert fhir.get("Patient?identifier=race-1").get_json()["total"] == 1


def test_two_updates_of_one_version_exactly_one_wins(live_server, http_headers, fhir):
    pid = fhir.create(patient("u"))["id"]

    def update(gender: str) -> int:
        resp = requests.put(
            f"{live_server}/fhir/Patient/{pid}",
            json={**patient("u"), "id": pid, "gender": gender},
            headers={**http_headers, "If-Match": 'W/"1"'},
            timeout=30,
        )
        return resp.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(update, ["male", "female"] * 4))
    assert statuses.count(200) == 1, statuses
    assert all(s in (412, 409) for s in statuses if s != 200), statuses
    assert fhir.get(f"Patient/{pid}").get_json()["meta"]["versionId"] == "2"
    history = fhir.get(f"Patient/{pid}/_history").get_json()
    assert len(history["entry"]) == 2


def test_racing_transactions_share_one_conditional_patient(live_server, http_headers, fhir):
    def transaction(i: int) -> int:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:5a5a5a5a-0000-4000-8000-000000000001",
                    "resource": patient("txn-race"),
                    "request": {
                        "method": "POST",
                        "url": "Patient",
                        "ifNoneExist": "identifier=urn:mrn|txn-race",
                    },
                },
                {
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "code": {"text": f"reading {i}"},
                        "subject": {"reference": "urn:uuid:5a5a5a5a-0000-4000-8000-000000000001"},
                    },
                    "request": {"method": "POST", "url": "Observation"},
                },
            ],
        }
        return requests.post(
            f"{live_server}/fhir", json=bundle, headers=http_headers, timeout=60
        ).status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(transaction, range(10)))
    assert statuses == [200] * 10
    patients = fhir.get("Patient?identifier=txn-race").get_json()
    assert patients["total"] == 1
    pid = patients["entry"][0]["resource"]["id"]
    observations = fhir.get(f"Observation?subject=Patient/{pid}&_count=50").get_json()
    assert observations["total"] == 10


def test_delete_racing_updates_keeps_history_and_current_state_agreeing(
    live_server, http_headers, fhir, db
):
    import sqlalchemy as sa

    from platform_core.db.schema import resource_table, version_table

    pid = fhir.create(patient("del-race"))["id"]

    def act(i: int) -> int:
        if i == 5:
            return requests.delete(
                f"{live_server}/fhir/Patient/{pid}", headers=http_headers, timeout=30
            ).status_code
        return requests.put(
            f"{live_server}/fhir/Patient/{pid}",
            json={**patient("del-race"), "id": pid, "birthDate": f"20{10 + i}"},
            headers=http_headers,
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(act, range(10)))
    assert all(s in (200, 201, 204, 409) for s in statuses), statuses
    with db.connect() as conn:
        current = conn.execute(
            sa.select(resource_table.c.version_id, resource_table.c.deleted).where(
                resource_table.c.id == pid
            )
        ).one()
        versions = conn.execute(
            sa.select(version_table.c.version_id, version_table.c.deleted)
            .where(version_table.c.id == pid)
            .order_by(version_table.c.version_id)
        ).all()
    # versions are gapless, and the newest one is exactly the current state
    assert [v[0] for v in versions] == list(range(1, len(versions) + 1))
    assert (versions[-1][0], versions[-1][1]) == (current[0], current[1])


def test_parameter_snapshot_refresh_takes_no_connection_from_the_request_pools(app):
    """A write that finds the custom-parameter snapshot stale refreshes it mid-transaction.
    Taking that connection from the pool the write holds one of deadlocked 20 racing
    conditional creates on SQLite: the lock holder waited for a connection that only
    writers queued behind its lock could give back."""
    import sqlalchemy as sa

    repository = app.extensions["fireside"].repository
    taken: list[str] = []

    def count(name: str) -> object:
        return lambda *_: taken.append(name)

    with repository.transaction() as conn:
        listeners = [(repository.engine, count("write")), (repository.read_engine, count("read"))]
        for engine, listener in listeners:
            sa.event.listen(engine, "checkout", listener)
        try:
            repository.custom.invalidate()
            repository.registry()
            conn.execute(sa.text("SELECT 1"))
        finally:
            for engine, listener in listeners:
                sa.event.remove(engine, "checkout", listener)
    assert taken == []
