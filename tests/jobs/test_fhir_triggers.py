"""FHIR writes enqueue the jobs that list their type in ``resource_types``, in the write's
own transaction: a write that fails enqueues nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FhirClient, issue_token
from tests.jobs.conftest import all_jobs


@pytest.fixture
def fhir_jobs(jobs_app) -> FhirClient:
    """A FHIR client on the app that has the test jobs."""
    return FhirClient(jobs_app.test_client(), issue_token(jobs_app))


def test_a_write_of_a_listed_type_enqueues_and_runs_the_job(fhir_jobs, db, effects):
    patient = fhir_jobs.create({"resourceType": "Patient", "gender": "female"})
    rows = [r for r in all_jobs(db) if r["name"] == "test.on_patient"]
    assert len(rows) == 1 and rows[0]["state"] == "done"
    payload = json.loads(rows[0]["payload"])
    assert payload["resource_type"] == "Patient" and payload["resource_id"] == patient["id"]
    assert payload["interaction"] == "create" and payload["version_id"] == 1
    assert effects(f"patient:{patient['id']}") == 1

    patient["gender"] = "male"
    assert fhir_jobs.put(f"Patient/{patient['id']}", patient).status_code == 200
    assert fhir_jobs.delete(f"Patient/{patient['id']}").status_code in (200, 204)
    interactions = [
        json.loads(r["payload"])["interaction"]
        for r in all_jobs(db)
        if r["name"] == "test.on_patient"
    ]
    assert interactions == ["create", "update", "delete"]


def test_a_write_that_fails_validation_enqueues_nothing(fhir_jobs, db):
    resp = fhir_jobs.post("Patient", {"resourceType": "Patient", "gender": "sometimes"})
    assert resp.status_code == 400
    assert all_jobs(db) == []


def test_a_failed_transaction_bundle_enqueues_nothing(fhir_jobs, db):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {"resourceType": "Patient", "birthDate": "not-a-date"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    assert fhir_jobs.post("", bundle).status_code >= 400
    assert all_jobs(db) == []


def test_writes_of_other_types_enqueue_nothing(fhir_jobs, db):
    fhir_jobs.create({"resourceType": "Organization", "name": "Clinic"})
    assert [r for r in all_jobs(db) if r["name"].startswith("test.")] == []
