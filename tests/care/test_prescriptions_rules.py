"""The prescribing rules hold over FHIR REST and Bundles too, not only through
``/api/prescriptions``: a user writing a MedicationRequest must be a verified practitioner
prescribing in their own name for a patient they care for."""

from __future__ import annotations

from typing import Any

import pytest

from tests.care.conftest import Person
from tests.care.test_prescriptions import AMOXICILLIN, book
from tests.conftest import outcome_codes

REJECTED = "FS-7001"


def medication_request(patient: str, requester: str, **changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [AMOXICILLIN]},
        "subject": {"reference": patient},
        "requester": {"reference": requester},
        "dosageInstruction": [{"text": "5 mL three times daily"}],
    }
    resource.update(changes)
    return resource


def refused(resp: Any, status: int) -> str:
    """The message of a write the rules refused (asserting status and code)."""
    body = resp.get_json()
    assert resp.status_code == status, body
    assert REJECTED in outcome_codes(body), body
    return body["issue"][0]["diagnostics"]


@pytest.fixture
def seen(people: Any, fhir: Any) -> tuple[Person, Person]:
    """A patient and a verified doctor with an appointment together."""
    patient, doctor = people.patient(), people.practitioner()
    book(fhir, patient.id, doctor)
    return patient, doctor


def test_a_verified_doctor_prescribes_over_fhir_for_a_patient_they_saw(seen):
    patient, doctor = seen
    created = doctor.fhir.create(medication_request(patient.ref, doctor.ref))
    changed = dict(created, status="on-hold")
    resp = doctor.fhir.put(f"MedicationRequest/{created['id']}", changed)
    assert resp.status_code == 200, resp.get_json()
    assert patient.fhir.get(f"MedicationRequest/{created['id']}").status_code == 200


def test_an_unverified_practitioner_is_refused(people, fhir, counts):
    patient, doctor = people.patient(), people.practitioner(verified=False)
    book(fhir, patient.id, doctor)
    before = counts()
    message = refused(
        doctor.fhir.post("MedicationRequest", medication_request(patient.ref, doctor.ref)), 403
    )
    assert "verified" in message
    assert counts() == before


def test_no_care_relationship_is_refused(people, counts):
    patient, doctor = people.patient(), people.practitioner()
    before = counts()
    message = refused(
        doctor.fhir.post("MedicationRequest", medication_request(patient.ref, doctor.ref)), 403
    )
    assert "care relationship" in message and "book" in message
    assert counts() == before


def test_prescribing_in_someone_elses_name_is_refused(people, seen, counts):
    patient, doctor = seen
    other = people.practitioner()
    before = counts()
    message = refused(
        doctor.fhir.post("MedicationRequest", medication_request(patient.ref, other.ref)), 403
    )
    assert "requester" in message
    assert counts() == before


def test_a_subject_that_is_not_a_patient_is_422(people, seen, fhir, counts):
    _, doctor = seen
    group = fhir.create({"resourceType": "Group", "type": "person", "actual": True})
    before = counts()
    resource = medication_request(f"Group/{group['id']}", doctor.ref)
    refused(doctor.fhir.post("MedicationRequest", resource), 422)
    assert counts() == before


@pytest.mark.parametrize("role", ["patient", "guardian", "admin"])
def test_users_other_than_practitioners_are_refused(people, counts, role):
    person = getattr(people, role)()
    doctor = people.practitioner()
    patient_ref = f"Patient/{person.children[0]}" if person.children else person.ref
    if role == "admin":
        patient_ref = people.patient().ref
    before = counts()
    message = refused(
        person.fhir.post("MedicationRequest", medication_request(patient_ref, doctor.ref)), 403
    )
    assert "Only practitioners" in message
    assert counts() == before


def test_a_patient_cannot_change_or_delete_their_prescription(seen, counts):
    patient, doctor = seen
    created = doctor.fhir.create(medication_request(patient.ref, doctor.ref))
    path = f"MedicationRequest/{created['id']}"
    before = counts()
    refused(patient.fhir.put(path, dict(created, status="completed")), 403)
    refused(patient.fhir.delete(path), 403)
    assert counts() == before
    assert patient.fhir.get(path).get_json()["status"] == "active"


def test_a_colleague_cannot_change_anothers_prescription(people, seen, fhir, counts):
    patient, doctor = seen
    created = doctor.fhir.create(medication_request(patient.ref, doctor.ref))
    colleague = people.practitioner()
    book(fhir, patient.id, colleague)
    path = f"MedicationRequest/{created['id']}"
    before = counts()
    refused(colleague.fhir.put(path, dict(created, status="stopped")), 403)
    taken = dict(created, requester={"reference": colleague.ref})
    assert "only its prescriber" in refused(colleague.fhir.put(path, taken), 403)
    assert counts() == before


def test_the_rules_hold_inside_a_transaction_bundle(people, seen, counts, fhir):
    patient, doctor = seen
    stranger = people.patient()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": medication_request(patient.ref, doctor.ref),
                "request": {"method": "POST", "url": "MedicationRequest"},
            },
            {
                "resource": medication_request(stranger.ref, doctor.ref),
                "request": {"method": "POST", "url": "MedicationRequest"},
            },
        ],
    }
    before = counts()
    resp = doctor.fhir.post("", bundle)
    assert resp.status_code == 403, resp.get_json()
    assert counts() == before
    bundle["entry"].pop()
    assert doctor.fhir.post("", bundle).status_code == 200


def test_backend_services_write_and_admins_delete(people, seen, fhir):
    patient, _ = seen
    other = people.practitioner()  # neither verified as the writer nor caring: a backend
    created = fhir.create(medication_request(patient.ref, other.ref))
    admin = people.admin()
    resp = admin.fhir.delete(f"MedicationRequest/{created['id']}")
    assert resp.status_code in (200, 204), resp.get_data(as_text=True)


def test_other_resource_types_are_left_alone(seen):
    patient, _ = seen
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Body weight"},
        "subject": {"reference": patient.ref},
    }
    assert patient.fhir.post("Observation", observation).status_code == 201
