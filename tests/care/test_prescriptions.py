"""The prescriptions API: verified practitioners with a care relationship issue
MedicationRequests, checked against the patient's allergies; patients and guardians read
their own and their children's; nobody else's leak."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from platform_core.identity.users import link_patient
from tests.care.conftest import Person, problem

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
AMOXICILLIN = {
    "system": RXNORM,
    "code": "308182",
    "display": "Amoxicillin 250 mg/5 mL oral suspension",
}
IBUPROFEN = {"system": RXNORM, "code": "197806", "display": "Ibuprofen 200 mg oral tablet"}


def order(patient: str, **changes: Any) -> dict[str, Any]:
    """A valid prescription body for ``patient``, with top-level ``changes``."""
    body: dict[str, Any] = {
        "patient": patient,
        "medication": dict(AMOXICILLIN),
        "dosage": {
            "text": "5 mL three times daily for 7 days",
            "frequency": 3,
            "period": 1,
            "period_unit": "d",
            "route": {"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral"},
            "dose": {"value": 5, "unit": "mL"},
        },
        "quantity": {"value": 100, "unit": "mL"},
        "refills": 0,
        "validity": {"start": "2026-01-01", "end": "2026-03-31"},
        "note": "Shake well before use",
    }
    body.update(changes)
    return body


def book(fhir: Any, patient_id: str, practitioner: Person) -> str:
    """A booked Appointment naming both: the care relationship (docs/care_workflows.md)."""
    return fhir.create(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": "2026-12-01T09:00:00+00:00",
            "end": "2026-12-01T09:30:00+00:00",
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
                {"actor": {"reference": practitioner.ref}, "status": "accepted"},
            ],
        }
    )["id"]


def allergy(fhir: Any, patient_id: str, text: str, **fields: Any) -> str:
    """An AllergyIntolerance of the patient (active and confirmed unless told)."""
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": _status("allergyintolerance-clinical", "active"),
        "verificationStatus": _status("allergyintolerance-verification", "confirmed"),
        "code": {"text": text},
        "patient": {"reference": f"Patient/{patient_id}"},
    }
    resource.update(fields)
    return fhir.create({k: v for k, v in resource.items() if v is not None})["id"]


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def issue(doctor: Person, patient_id: str, **changes: Any) -> dict[str, Any]:
    resp = doctor.api.post("prescriptions", order(patient_id, **changes))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


@pytest.fixture
def events(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The domain events published, in order (they still go to their subscribers)."""
    jobs = app.extensions["fireside"].jobs
    published: list[tuple[str, dict[str, Any]]] = []
    original = jobs.publish

    def record(conn: Any, event: str, payload: dict[str, Any]) -> int:
        published.append((event, payload))
        return original(conn, event, payload)

    monkeypatch.setattr(jobs, "publish", record)
    return published


@pytest.fixture
def family(people: Any, fhir: Any) -> Any:
    """A guardian with a child, and a verified doctor who has seen the child."""
    parent = people.guardian()
    doctor = people.practitioner()
    book(fhir, parent.children[0], doctor)
    return parent, parent.children[0], doctor


# --- issuing -----------------------------------------------------------------------------
class TestIssue:
    def test_a_doctor_prescribes_for_a_child_they_saw(self, family, fhir, events):
        _, child, doctor = family
        resp = doctor.api.post("prescriptions", order(child))
        assert resp.status_code == 201, resp.get_json()
        answer = resp.get_json()
        mr_id = answer["medication_request"]
        assert answer["detected_issues"] == []
        assert resp.headers["Location"].endswith(f"/fhir/MedicationRequest/{mr_id}")

        stored = fhir.get(f"MedicationRequest/{mr_id}").get_json()
        assert stored["status"] == "active" and stored["intent"] == "order"
        assert stored["subject"] == {"reference": f"Patient/{child}"}
        assert stored["requester"] == {"reference": doctor.ref}
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", stored["authoredOn"])
        assert stored["medicationCodeableConcept"]["coding"] == [AMOXICILLIN]
        dosage = stored["dosageInstruction"][0]
        assert dosage["text"] == "5 mL three times daily for 7 days"
        assert dosage["timing"] == {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}
        assert dosage["route"]["coding"][0]["code"] == "26643006"
        assert dosage["doseAndRate"][0]["doseQuantity"] == {
            "value": 5,
            "unit": "mL",
            "system": UCUM,
            "code": "mL",
        }
        assert stored["dispenseRequest"] == {
            "validityPeriod": {"start": "2026-01-01", "end": "2026-03-31"},
            "numberOfRepeatsAllowed": 0,
            "quantity": {"value": 100, "unit": "mL", "system": UCUM, "code": "mL"},
        }
        assert stored["note"] == [{"text": "Shake well before use"}]
        assert events == [
            (
                "prescription.issued",
                {
                    "medication_request": mr_id,
                    "patient": child,
                    "practitioner": doctor.id,
                    "medication": AMOXICILLIN["display"],
                },
            )
        ]

    def test_the_guardian_reads_it_over_the_api_and_over_fhir(self, family):
        parent, child, doctor = family
        mr_id = issue(doctor, child)["medication_request"]

        listed = parent.api.get("prescriptions").get_json()["prescriptions"]
        assert [p["id"] for p in listed] == [mr_id]
        one = parent.api.get(f"prescriptions/{mr_id}").get_json()
        assert one == listed[0]
        assert one["status"] == "active"
        assert one["patient"] == child and one["requester"] == doctor.id
        assert one["medication"] == AMOXICILLIN
        assert one["dosage"] == "5 mL three times daily for 7 days"
        assert one["validity"] == {"start": "2026-01-01", "end": "2026-03-31"}
        assert one["refills"] == 0 and one["detected_issues"] == []
        assert one["authored_on"]
        by_patient = parent.api.get(f"prescriptions?patient={child}").get_json()
        assert [p["id"] for p in by_patient["prescriptions"]] == [mr_id]

        assert parent.fhir.get(f"MedicationRequest/{mr_id}").status_code == 200
        bundle = parent.fhir.get(f"MedicationRequest?patient={child}").get_json()
        assert [e["resource"]["id"] for e in bundle["entry"]] == [mr_id]

    def test_decimals_are_kept_exactly_as_written(self, family, fhir):
        _, child, doctor = family
        body = order(child)
        text = json.dumps(body).replace('"value": 5,', '"value": 2.50,')
        text = text.replace('"value": 100,', '"value": 100.0,')
        resp = doctor.api.post(
            "prescriptions", data=text, headers={"Content-Type": "application/json"}
        )
        assert resp.status_code == 201, resp.get_json()
        mr_id = resp.get_json()["medication_request"]
        raw = fhir.get(f"MedicationRequest/{mr_id}").get_data(as_text=True)
        assert re.search(r'"doseQuantity":\{"value":2\.50,', raw.replace(" ", "")), raw
        assert re.search(r'"quantity":\{"value":100\.0,', raw.replace(" ", "")), raw
        listed = doctor.api.get(f"prescriptions/{mr_id}").get_data(as_text=True)
        assert '"value":100.0' in listed.replace(" ", "")

    def test_units_that_are_not_ucum_have_no_system(self, family, fhir):
        _, child, doctor = family
        mr_id = issue(doctor, child, quantity={"value": 20, "unit": "tablet"})["medication_request"]
        stored = fhir.get(f"MedicationRequest/{mr_id}").get_json()
        assert stored["dispenseRequest"]["quantity"] == {"value": 20, "unit": "tablet"}

    def test_an_admin_care_link_is_a_care_relationship_too(self, people, db):
        patient = people.patient()
        doctor = people.practitioner()
        link_patient(db, doctor.user_id, patient.id, "care")
        issue(doctor, patient.id)

    def test_an_unverified_practitioner_may_not_prescribe(self, people, fhir, counts):
        patient = people.patient()
        doctor = people.practitioner(verified=False)
        book(fhir, patient.id, doctor)
        before = counts()
        body = problem(doctor.api.post("prescriptions", order(patient.id)), 403)
        assert "verified" in body["detail"]
        assert counts() == before

    def test_no_care_relationship_no_prescription(self, people, counts):
        patient = people.patient()
        doctor = people.practitioner()
        before = counts()
        body = problem(doctor.api.post("prescriptions", order(patient.id)), 403)
        assert "care relationship" in body["detail"]
        assert "book" in body["detail"] and "assigned" in body["detail"]
        assert counts() == before

    def test_an_unknown_patient_is_404(self, people, counts):
        doctor = people.practitioner()
        before = counts()
        problem(doctor.api.post("prescriptions", order("no-such-patient")), 404)
        assert counts() == before

    @pytest.mark.parametrize("role", ["patient", "guardian", "admin"])
    def test_only_practitioners_prescribe(self, people, family, counts, role):
        _, child, _ = family
        person = getattr(people, role)()
        before = counts()
        problem(person.api.post("prescriptions", order(child)), 403)
        assert counts() == before

    def test_a_backend_service_does_not_prescribe_through_the_api(self, people, family):
        _, child, _ = family
        problem(people.system().post("prescriptions", order(child)), 403)

    def test_a_token_without_the_write_scope_is_refused(self, people, family, counts):
        _, child, doctor = family
        reader = people.token_for(doctor, "openid fhirUser user/*.rs")
        before = counts()
        problem(reader.post("prescriptions", order(child)), 403)
        assert counts() == before

    def test_without_a_token_every_route_is_401(self, anonymous_api, family):
        _, child, doctor = family
        mr_id = issue(doctor, child)["medication_request"]
        for method, path, body in [
            ("POST", "prescriptions", order(child)),
            ("GET", "prescriptions", None),
            ("GET", f"prescriptions/{mr_id}", None),
            ("POST", f"prescriptions/{mr_id}/cancel", {"reason": "x"}),
            ("POST", f"prescriptions/{mr_id}/replace", order(child)),
        ]:
            problem(anonymous_api.request(method, path, body), 401)


# --- bad bodies --------------------------------------------------------------------------
def _set(path: str, value: Any) -> Any:
    """A change to ``order()`` setting the dotted ``path`` (``...`` deletes it)."""

    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return change


BAD_BODIES = [
    ("validity.end", _set("validity", {"start": "2026-03-01", "end": "2026-02-28"})),
    ("validity.start", _set("validity.start", "2026-02-30")),
    ("validity.start", _set("validity.start", "01/02/2026")),
    ("validity", _set("validity", ...)),
    ("refills", _set("refills", -1)),
    ("refills", _set("refills", 13)),
    ("refills", _set("refills", "2")),
    ("refills", _set("refills", 1.5)),
    ("quantity.value", _set("quantity.value", 0)),
    ("quantity.value", _set("quantity.value", -5)),
    ("quantity.unit", _set("quantity.unit", "")),
    ("dosage.text", _set("dosage.text", ...)),
    ("dosage.text", _set("dosage.text", "   ")),
    ("dosage.frequency", _set("dosage.frequency", 0)),
    ("dosage.period", _set("dosage.period", "1")),
    ("dosage.period_unit", _set("dosage.period_unit", "days")),
    ("dosage.dose.value", _set("dosage.dose.value", True)),
    ("dosage.route", _set("dosage.route", {"display": "by mouth"})),
    ("medication.code", _set("medication.code", " 308182")),
    ("medication.code", _set("medication.code", "amoxicillin")),
    ("medication.system", _set("medication.system", "rxnorm")),
    ("medication.display", _set("medication.display", ...)),
    ("medication", _set("medication", "amoxicillin")),
    ("patient", _set("patient", "no/such")),
    ("note", _set("note", "")),
    ("colour", _set("colour", "blue")),
]


@pytest.mark.parametrize(("field", "change"), BAD_BODIES, ids=[f for f, _ in BAD_BODIES])
def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(family, fhir, counts, field, change):
    _, child, doctor = family
    allergy(fhir, child, "Penicillin")  # a matching allergy: still no DetectedIssue
    body = order(child)
    change(body)
    before = counts()
    answer = problem(doctor.api.post("prescriptions", body), 400)
    assert field in answer["errors"]["json"], answer
    assert field in answer["detail"]
    assert counts() == before


@pytest.mark.parametrize("raw", ["", "{not json", "[1, 2]", '"text"'])
def test_a_body_that_is_not_a_json_object_is_400(family, counts, raw):
    _, _, doctor = family
    before = counts()
    resp = doctor.api.post("prescriptions", data=raw, headers={"Content-Type": "application/json"})
    problem(resp, 400)
    assert counts() == before


def test_refills_up_to_the_configured_maximum(family):
    _, child, doctor = family
    issue(doctor, child, refills=12)


# --- the allergy check -------------------------------------------------------------------
class TestAllergyCheck:
    def test_a_penicillin_allergy_flags_amoxicillin(self, family, fhir, events):
        parent, child, doctor = family
        allergy_id = allergy(fhir, child, "Penicillin")
        answer = issue(doctor, child)
        mr_id = answer["medication_request"]
        [alert] = answer["detected_issues"]
        assert alert["allergy"] == allergy_id
        assert "Amoxicillin" in alert["detail"] and "Penicillin" in alert["detail"]

        stored = fhir.get(f"DetectedIssue/{alert['id']}").get_json()
        assert stored["status"] == "final"
        assert stored["severity"] == "high"
        assert stored["code"]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "ALGY",
            "display": "Allergy Alert",
        }
        assert stored["patient"] == {"reference": f"Patient/{child}"}
        assert stored["implicated"] == [
            {"reference": f"MedicationRequest/{mr_id}"},
            {"reference": f"AllergyIntolerance/{allergy_id}"},
        ]
        assert stored["author"]["display"]
        assert stored["detail"] == alert["detail"]
        # still issued, and the family sees the alert with it
        assert fhir.get(f"MedicationRequest/{mr_id}").get_json()["status"] == "active"
        [seen] = parent.api.get("prescriptions").get_json()["prescriptions"]
        assert seen["detected_issues"] == [alert]
        assert parent.fhir.get(f"DetectedIssue/{alert['id']}").status_code == 200
        assert [e for e, _ in events] == ["prescription.issued"]

    def test_the_substance_name_in_the_display_matches(self, family, fhir):
        _, child, doctor = family
        allergy(fhir, child, "penicillin")
        medication = {"system": RXNORM, "code": "7984", "display": "Penicillin V 250 mg tablet"}
        assert len(issue(doctor, child, medication=medication)["detected_issues"]) == 1

    def test_a_coded_allergy_matches_the_same_code(self, family, fhir):
        _, child, doctor = family
        allergy_id = allergy(
            fhir,
            child,
            "Sweet syrup",
            code={"coding": [{"system": RXNORM, "code": AMOXICILLIN["code"]}]},
        )
        [alert] = issue(doctor, child)["detected_issues"]
        assert alert["allergy"] == allergy_id

    def test_an_allergy_without_clinical_status_counts(self, family, fhir):
        _, child, doctor = family
        allergy(fhir, child, "Penicillin", clinicalStatus=None, verificationStatus=None)
        assert len(issue(doctor, child)["detected_issues"]) == 1

    @pytest.mark.parametrize(
        "fields",
        [
            {"code": {"text": "Peanut"}},
            {"clinicalStatus": _status("allergyintolerance-clinical", "inactive")},
            {"clinicalStatus": _status("allergyintolerance-clinical", "resolved")},
            {
                "clinicalStatus": None,
                "verificationStatus": _status(
                    "allergyintolerance-verification", "entered-in-error"
                ),
            },
        ],
        ids=["no-match", "inactive", "resolved", "entered-in-error"],
    )
    def test_no_alert_without_a_counting_match(self, family, fhir, fields):
        _, child, doctor = family
        allergy(fhir, child, "Penicillin", **fields)
        assert issue(doctor, child)["detected_issues"] == []
        assert fhir.get(f"DetectedIssue?patient={child}").get_json()["total"] == 0

    def test_another_patients_allergy_is_not_theirs(self, family, people, fhir):
        _, child, doctor = family
        other = people.patient()
        allergy(fhir, other.id, "Penicillin")
        assert issue(doctor, child)["detected_issues"] == []

    def test_every_matching_allergy_gets_an_alert(self, family, fhir):
        _, child, doctor = family
        allergy(fhir, child, "Penicillin")
        allergy(fhir, child, "Amoxicillin")
        allergy(fhir, child, "Latex")
        assert len(issue(doctor, child)["detected_issues"]) == 2


# --- reading, and no leaks ---------------------------------------------------------------
class TestReading:
    def test_no_leaks_between_patients(self, people, fhir):
        doctor = people.practitioner()
        ada, bola = people.patient(given="Ada"), people.patient(given="Bola")
        parent = people.guardian()
        child = parent.children[0]
        for patient_id in (ada.id, bola.id, child):
            book(fhir, patient_id, doctor)
        for_ada = issue(doctor, ada.id)["medication_request"]
        for_bola = issue(doctor, bola.id)["medication_request"]
        for_child = issue(doctor, child)["medication_request"]

        def listed(person: Person, query: str = "") -> list[str]:
            resp = person.api.get("prescriptions" + query)
            assert resp.status_code == 200, resp.get_json()
            return sorted(p["id"] for p in resp.get_json()["prescriptions"])

        assert listed(ada) == [for_ada]
        assert listed(bola) == [for_bola]
        assert listed(parent) == [for_child]
        problem(ada.api.get(f"prescriptions/{for_bola}"), 404)
        problem(ada.api.get(f"prescriptions?patient={bola.id}"), 404)
        problem(parent.api.get(f"prescriptions/{for_ada}"), 404)
        problem(ada.api.get("prescriptions/no-such-id"), 404)
        assert ada.fhir.get(f"MedicationRequest/{for_bola}").status_code == 404
        assert listed(doctor) == sorted([for_ada, for_bola, for_child])

    def test_a_practitioner_sees_their_own_and_those_of_patients_they_care_for(self, people, fhir):
        first, second, stranger = (people.practitioner() for _ in range(3))
        patient = people.patient()
        book(fhir, patient.id, first)
        mine = issue(first, patient.id)["medication_request"]
        assert second.api.get("prescriptions").get_json()["prescriptions"] == []
        problem(second.api.get(f"prescriptions/{mine}"), 404)
        problem(second.api.get(f"prescriptions?patient={patient.id}"), 404)
        problem(stranger.api.get(f"prescriptions?patient={patient.id}"), 404)

        book(fhir, patient.id, second)
        theirs = issue(second, patient.id)["medication_request"]
        assert [p["id"] for p in second.api.get("prescriptions").get_json()["prescriptions"]] == [
            theirs
        ]
        both = second.api.get(f"prescriptions?patient={patient.id}").get_json()
        assert sorted(p["id"] for p in both["prescriptions"]) == sorted([mine, theirs])
        assert second.api.get(f"prescriptions/{mine}").status_code == 200

    def test_admins_see_everything(self, people, family):
        _, child, doctor = family
        mr_id = issue(doctor, child)["medication_request"]
        admin = people.admin()
        assert [p["id"] for p in admin.api.get("prescriptions").get_json()["prescriptions"]] == [
            mr_id
        ]
        assert admin.api.get(f"prescriptions?patient={child}").status_code == 200
        problem(admin.api.get("prescriptions?patient=no-such-patient"), 404)

    def test_the_status_filter(self, family):
        parent, child, doctor = family
        kept = issue(doctor, child)["medication_request"]
        dropped = issue(doctor, child)["medication_request"]
        doctor.api.post(f"prescriptions/{dropped}/cancel", {"reason": "wrong strength"})

        def ids(status: str) -> list[str]:
            body = parent.api.get(f"prescriptions?status={status}").get_json()
            return [p["id"] for p in body["prescriptions"]]

        assert ids("active") == [kept]
        assert ids("cancelled") == [dropped]
        assert sorted(ids("active,cancelled")) == sorted([kept, dropped])
        answer = problem(parent.api.get("prescriptions?status=finished"), 400)
        assert "status" in answer["detail"]


# --- cancelling --------------------------------------------------------------------------
class TestCancel:
    def test_the_prescriber_cancels(self, family, fhir, events):
        parent, child, doctor = family
        mr_id = issue(doctor, child)["medication_request"]
        events.clear()
        resp = doctor.api.post(f"prescriptions/{mr_id}/cancel", {"reason": "Wrong strength"})
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["status"] == "cancelled"
        assert resp.get_json()["status_reason"] == "Wrong strength"
        stored = fhir.get(f"MedicationRequest/{mr_id}").get_json()
        assert stored["status"] == "cancelled"
        assert stored["statusReason"] == {"text": "Wrong strength"}
        assert events == [
            (
                "prescription.cancelled",
                {
                    "medication_request": mr_id,
                    "patient": child,
                    "practitioner": doctor.id,
                    "medication": AMOXICILLIN["display"],
                    "reason": "Wrong strength",
                },
            )
        ]
        assert parent.api.get(f"prescriptions/{mr_id}").get_json()["status"] == "cancelled"

    def test_cancelling_twice_is_a_conflict(self, family, counts):
        _, child, doctor = family
        mr_id = issue(doctor, child)["medication_request"]
        doctor.api.post(f"prescriptions/{mr_id}/cancel", {"reason": "Not needed"})
        before = counts()
        problem(doctor.api.post(f"prescriptions/{mr_id}/cancel", {"reason": "Again"}), 409)
        assert counts() == before

    @pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": 3}, ["reason"]])
    def test_a_reason_is_required(self, family, counts, body):
        _, child, doctor = family
        mr_id = issue(doctor, child)["medication_request"]
        before = counts()
        answer = problem(doctor.api.post(f"prescriptions/{mr_id}/cancel", body), 400)
        assert "reason" in answer["detail"]
        assert counts() == before

    def test_only_the_prescriber_or_an_admin_cancels(self, people, family, fhir, counts):
        parent, child, doctor = family
        mr_id = issue(doctor, child)["medication_request"]
        colleague = people.practitioner()
        book(fhir, child, colleague)
        stranger = people.practitioner()
        before = counts()
        problem(colleague.api.post(f"prescriptions/{mr_id}/cancel", {"reason": "x"}), 403)
        problem(stranger.api.post(f"prescriptions/{mr_id}/cancel", {"reason": "x"}), 404)
        problem(parent.api.post(f"prescriptions/{mr_id}/cancel", {"reason": "x"}), 403)
        problem(doctor.api.post("prescriptions/no-such-id/cancel", {"reason": "x"}), 404)
        assert counts() == before
        admin = people.admin()
        resp = admin.api.post(f"prescriptions/{mr_id}/cancel", {"reason": "Duplicate"})
        assert resp.status_code == 200, resp.get_json()


# --- replacing ---------------------------------------------------------------------------
class TestReplace:
    def test_a_replacement_points_to_the_old_one_which_is_cancelled(self, family, fhir, events):
        parent, child, doctor = family
        old = issue(doctor, child)["medication_request"]
        events.clear()
        resp = doctor.api.post(
            f"prescriptions/{old}/replace", order(child, medication=dict(IBUPROFEN))
        )
        assert resp.status_code == 201, resp.get_json()
        answer = resp.get_json()
        new = answer["medication_request"]
        assert answer["replaces"] == old and answer["detected_issues"] == []
        assert resp.headers["Location"].endswith(f"/fhir/MedicationRequest/{new}")
        stored_new = fhir.get(f"MedicationRequest/{new}").get_json()
        assert stored_new["priorPrescription"] == {"reference": f"MedicationRequest/{old}"}
        assert stored_new["status"] == "active"
        stored_old = fhir.get(f"MedicationRequest/{old}").get_json()
        assert stored_old["status"] == "cancelled"
        assert stored_old["statusReason"] == {"text": "replaced"}
        assert [(e, p["medication_request"]) for e, p in events] == [
            ("prescription.cancelled", old),
            ("prescription.issued", new),
        ]
        assert parent.api.get(f"prescriptions/{new}").get_json()["replaces"] == old

    def test_the_allergy_check_runs_on_the_replacement(self, family, fhir):
        _, child, doctor = family
        old = issue(doctor, child, medication=dict(IBUPROFEN))["medication_request"]
        allergy(fhir, child, "Penicillin")
        resp = doctor.api.post(f"prescriptions/{old}/replace", order(child))
        assert resp.status_code == 201
        assert len(resp.get_json()["detected_issues"]) == 1

    def test_the_patient_may_be_left_out_but_not_changed(self, family, people, fhir, counts):
        _, child, doctor = family
        old = issue(doctor, child)["medication_request"]
        other = people.patient()
        book(fhir, other.id, doctor)
        before = counts()
        answer = problem(doctor.api.post(f"prescriptions/{old}/replace", order(other.id)), 400)
        assert "patient" in answer["errors"]["json"]
        assert counts() == before
        body = order(child)
        del body["patient"]
        assert doctor.api.post(f"prescriptions/{old}/replace", body).status_code == 201

    def test_only_an_active_prescription_is_replaced(self, family, counts):
        _, child, doctor = family
        old = issue(doctor, child)["medication_request"]
        doctor.api.post(f"prescriptions/{old}/cancel", {"reason": "stop"})
        before = counts()
        problem(doctor.api.post(f"prescriptions/{old}/replace", order(child)), 409)
        assert counts() == before

    def test_a_bad_replacement_changes_nothing(self, family, fhir, counts):
        _, child, doctor = family
        old = issue(doctor, child)["medication_request"]
        before = counts()
        body = order(child, refills=20)
        problem(doctor.api.post(f"prescriptions/{old}/replace", body), 400)
        assert counts() == before
        assert fhir.get(f"MedicationRequest/{old}").get_json()["status"] == "active"

    def test_a_failure_after_the_cancellation_rolls_it_back(
        self, family, fhir, counts, monkeypatch
    ):
        from platform_core.web.api import Problem
        from plugins.prescriptions.service import PrescriptionService

        _, child, doctor = family
        old = issue(doctor, child)["medication_request"]

        def broken(self: Any, conn: Any, patient_id: str) -> list[Any]:
            raise Problem(503, "the allergy list is unavailable")

        monkeypatch.setattr(PrescriptionService, "_allergies", broken)
        before = counts()
        problem(doctor.api.post(f"prescriptions/{old}/replace", order(child)), 503)
        assert counts() == before
        assert fhir.get(f"MedicationRequest/{old}").get_json()["status"] == "active"

    def test_only_the_prescriber_replaces(self, people, family, fhir, counts):
        parent, child, doctor = family
        old = issue(doctor, child)["medication_request"]
        colleague, stranger = people.practitioner(), people.practitioner()
        book(fhir, child, colleague)
        before = counts()
        problem(colleague.api.post(f"prescriptions/{old}/replace", order(child)), 403)
        problem(parent.api.post(f"prescriptions/{old}/replace", order(child)), 403)
        problem(stranger.api.post(f"prescriptions/{old}/replace", order(child)), 404)
        assert counts() == before


def test_the_order_helper_is_valid_as_is(family):
    """Guards the bad-body cases: each one is the valid body with one thing wrong."""
    _, child, doctor = family
    body = copy.deepcopy(order(child))
    assert doctor.api.post("prescriptions", body).status_code == 201
