"""A new version and its search index are written together (one statement on PostgreSQL):
an update leaves exactly the new version's index rows, a delete none, and a write on top of
a version that is no longer current writes nothing at all."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from platform_core.db.schema import INDEX_TABLES
from platform_core.fhir.context import RequestContext
from platform_core.fhir.instants import now_utc
from platform_core.fhir.search.extract import index_rows
from platform_core.fhir.storage import store

SYSTEM = RequestContext.system()


def patient(family: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def stored_rows(db: sa.Engine, rid: int) -> dict[str, list[tuple[Any, ...]]]:
    """The index rows of ``rid`` per kind, without ``rid``, sorted."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with db.connect() as conn:
        for kind, table in INDEX_TABLES.items():
            columns = [c for c in table.c if c.name != "rid"]
            rows = conn.execute(sa.select(*columns).where(table.c.rid == rid)).all()
            if rows:
                found[kind] = sorted((tuple(r) for r in rows), key=repr)
    return found


def expected_rows(core: Any, body: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """The index rows a fresh extraction of ``body`` gives, in the shape of
    :func:`stored_rows`."""
    repo = core.repository
    params = repo.registry().indexed_parameters(body["resourceType"])
    found: dict[str, list[tuple[Any, ...]]] = {}
    for kind, rows in index_rows(body["resourceType"], 0, body, params, repo.base_url).items():
        if rows:
            names = [c.name for c in INDEX_TABLES[kind].c if c.name != "rid"]
            found[kind] = sorted((tuple(row[n] for n in names) for row in rows), key=repr)
    return found


def _normalized(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[str]]:
    """Rows as text, so that a Decimal or an aware datetime from either side compares."""
    return {kind: sorted(repr(tuple(map(str, r))) for r in items) for kind, items in rows.items()}


def test_an_update_leaves_exactly_the_new_versions_index_rows(app, fhir, db):
    core = app.extensions["fireside"]
    created = fhir.create(
        patient(
            "Okafor",
            identifier=[{"system": "urn:mrn", "value": "v-1"}],
            birthDate="1990-04-02",
            gender="female",
        )
    )
    updated = {**patient("Bello"), "id": created["id"], "gender": "male"}
    assert fhir.put(f"Patient/{created['id']}", updated).status_code == 200
    current = core.repository.read(SYSTEM, "Patient", created["id"])
    assert _normalized(stored_rows(db, current.rid)) == _normalized(
        expected_rows(core, current.resource())
    )
    for query, total in [
        ("family=Okafor", 0),
        ("identifier=urn:mrn|v-1", 0),
        ("birthdate=1990-04-02", 0),
        ("gender=female", 0),
        ("family=Bello", 1),
        ("gender=male", 1),
    ]:
        found = fhir.get(f"Patient?_id={created['id']}&{query}").get_json()
        assert found["total"] == total, query


def test_a_delete_leaves_no_index_rows(app, fhir, db):
    core = app.extensions["fireside"]
    created = fhir.create(patient("Okafor", gender="female"))
    rid = core.repository.read(SYSTEM, "Patient", created["id"]).rid
    assert stored_rows(db, rid)
    assert fhir.delete(f"Patient/{created['id']}").status_code in (200, 204)
    assert stored_rows(db, rid) == {}
    assert len(fhir.get(f"Patient/{created['id']}/_history").get_json()["entry"]) == 2


@pytest.mark.parametrize("content", ["update", "delete"])
def test_a_version_written_on_a_stale_one_writes_nothing(app, fhir, db, counts, content):
    core = app.extensions["fireside"]
    created = fhir.create(patient("Okafor"))
    first = core.repository.read(SYSTEM, "Patient", created["id"])
    assert (
        fhir.put(f"Patient/{created['id']}", {**patient("Bello"), "id": created["id"]}).status_code
        == 200
    )
    second = core.repository.read(SYSTEM, "Patient", created["id"])
    rows_before, before = stored_rows(db, first.rid), counts()
    body = {**patient("Stale"), "id": created["id"]}
    repo = core.repository
    params = repo.registry().indexed_parameters("Patient")
    index = index_rows("Patient", first.rid, body, params, repo.base_url)
    # The refused write is committed, not rolled back: it must have written nothing itself.
    with core.repository.transaction() as conn, pytest.raises(store.StaleVersionError):
        store.write_next_version_indexed(
            conn,
            first,
            now_utc(),
            '{"resourceType": "Patient"}' if content == "update" else None,
            "PUT" if content == "update" else "DELETE",
            index if content == "update" else {},
        )
    assert counts() == before
    assert stored_rows(db, first.rid) == rows_before
    assert core.repository.read(SYSTEM, "Patient", created["id"]) == second
