"""``fhir_resource_before_write`` and ``fhir_resource_after_commit``: when they fire, what
persists, and what an exception does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from platform_core import hookimpl
from platform_core.plugin_api import PendingWrite, RejectWrite, ResourceChange
from tests.conftest import outcome_codes


class Tagger:
    """Tags every Patient it sees, and refuses Patients named 'Refused'."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

    @hookimpl
    def fhir_resource_before_write(self, write: PendingWrite) -> None:
        self.seen.append((write.interaction, write.resource_type, write.resource_id))
        if write.resource is None or write.resource_type != "Patient":
            return
        if any(n.get("family") == "Refused" for n in write.resource.get("name", [])):
            raise RejectWrite("Patients named Refused are not accepted here", expression="name")
        meta = write.resource.setdefault("meta", {})
        meta.setdefault("tag", []).append({"system": "urn:test", "code": "tagged"})


class Crasher:
    @hookimpl
    def fhir_resource_before_write(self, write: PendingWrite) -> None:
        raise RuntimeError("bug in a plugin")


class Recorder:
    """Records committed changes, and checks each is visible to another connection."""

    def __init__(self, engine_of: Any) -> None:
        self.changes: list[ResourceChange] = []
        self.visible: list[bool] = []
        self.engine_of = engine_of

    @hookimpl
    def fhir_resource_after_commit(self, change: ResourceChange) -> None:
        self.changes.append(change)
        with self.engine_of().connect() as conn:
            found = conn.execute(
                sa.text("SELECT count(*) FROM fhir_resource WHERE resource_type = :t AND id = :i"),
                {"t": change.resource_type, "i": change.resource_id},
            ).scalar_one()
        self.visible.append(found == 1)
        if change.resource_type == "Observation":
            raise RuntimeError("after-commit plugins cannot undo a write")


PATIENT = {"resourceType": "Patient", "name": [{"family": "Smith"}]}


def test_hook_fhir_resource_before_write_changes_persist(make_app, client_for) -> None:
    tagger = Tagger()
    fhir = client_for(make_app(tagger))
    created = fhir.create(PATIENT)
    assert {"system": "urn:test", "code": "tagged"} in created["meta"]["tag"]
    stored = fhir.get(f"Patient/{created['id']}").get_json()
    assert stored["meta"]["tag"] == created["meta"]["tag"]
    fhir.put(f"Patient/{created['id']}", {**PATIENT, "id": created["id"]})
    fhir.delete(f"Patient/{created['id']}")
    assert [s[0] for s in tagger.seen] == ["create", "update", "delete"]
    assert tagger.seen[0][2] is None  # the server had not assigned the id yet


def test_hook_fhir_resource_before_write_reject_writes_nothing(make_app, client_for, counts):
    fhir = client_for(make_app(Tagger()))
    before = counts()
    resp = fhir.post("Patient", {"resourceType": "Patient", "name": [{"family": "Refused"}]})
    assert resp.status_code == 422
    assert outcome_codes(resp.get_json()) == ["FS-7001"]
    assert "not accepted here" in resp.get_json()["issue"][0]["diagnostics"]
    assert counts() == before


def test_before_write_rejection_rolls_back_a_whole_transaction(make_app, client_for, counts):
    fhir = client_for(make_app(Tagger()))
    before = counts()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Patient", "name": [{"family": "Refused"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    resp = fhir.post("", bundle)
    assert resp.status_code == 422
    assert counts() == before


def test_before_write_crash_aborts_with_500(make_app, client_for, counts) -> None:
    fhir = client_for(make_app(Crasher()))
    before = counts()
    resp = fhir.post("Patient", PATIENT)
    assert resp.status_code == 500
    assert outcome_codes(resp.get_json()) == ["FS-7002"]
    assert "bug in a plugin" not in resp.get_data(as_text=True)  # no internals leak
    assert counts() == before


def test_hook_fhir_resource_after_commit_sees_committed_writes(make_app, client_for) -> None:
    holder: dict[str, Any] = {}
    recorder = Recorder(lambda: holder["app"].extensions["fireside"].db)
    holder["app"] = application = make_app(recorder)
    fhir = client_for(application)
    created = fhir.create(PATIENT)
    fhir.put(f"Patient/{created['id']}", {**PATIENT, "id": created["id"]})
    fhir.delete(f"Patient/{created['id']}")
    changes = [
        (c.interaction, c.version_id, c.deleted)
        for c in recorder.changes
        if c.resource_type == "Patient"
    ]
    assert changes == [("create", 1, False), ("update", 2, False), ("delete", 3, True)]
    assert recorder.visible[:2] == [True, True]  # committed before the hook ran
    assert recorder.changes[0].actor != ""


def test_after_commit_error_is_logged_and_the_write_stands(make_app, client_for, caplog):
    holder: dict[str, Any] = {}
    recorder = Recorder(lambda: holder["app"].extensions["fireside"].db)
    holder["app"] = application = make_app(recorder)
    fhir = client_for(application)
    resp = fhir.post(
        "Observation",
        {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}},
    )
    assert resp.status_code == 201
    assert fhir.get(f"Observation/{resp.get_json()['id']}").status_code == 200
    assert "fhir_resource_after_commit" in caplog.text


def test_after_commit_does_not_fire_for_a_rolled_back_write(make_app, client_for) -> None:
    holder: dict[str, Any] = {}
    recorder = Recorder(lambda: holder["app"].extensions["fireside"].db)
    holder["app"] = application = make_app(recorder)
    fhir = client_for(application)
    resp = fhir.post("Patient", {"resourceType": "Patient", "gender": "not-a-gender"})
    assert resp.status_code == 400
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Patient", "gender": "x"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    assert fhir.post("", bundle).status_code == 400
    assert [c for c in recorder.changes if c.resource_type != "AuditEvent"] == []
