"""The two journeys issue 6 names, end to end through the APIs with real tokens, on the
session app with every care plugin active:

* a doctor from sign-up to verified, bookable and prescribing;
* a parent from sign-up to a booked, reminded, invoiced and reviewed consultation for
  their child.

Accounts are created with the identity service (sign-up and sign-in pages have their own
browser tests) and tokens minted by the app's token service; everything after that goes
through ``/api`` and ``/fhir``.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from platform_core.fhir.instants import format_instant, now_utc
from platform_core.identity.users import create_user
from platform_core.jobs.schema import job_table
from tests.care.conftest import ApiClient, problem
from tests.care.scheduling_support import ALL_DAY
from tests.conftest import FhirClient, issue_token

SCOPE = "openid fhirUser offline_access user/*.cruds"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _one_week_horizon(app, monkeypatch):
    monkeypatch.setitem(app.extensions["fireside"].settings.extra, "scheduling_horizon_days", 7)


class Account:
    def __init__(self, app: Any, role: str, email: str) -> None:
        user = create_user(app.extensions["fireside"].db, email=email, password=None, role=role)
        self.user_id = user.id
        token = issue_token(app, SCOPE, user_id=user.id)
        client = app.test_client()
        self.api = ApiClient(client, token)
        self.fhir = FhirClient(client, token)


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:800])
    return resp.get_json()


def sign_up_doctor(app: Any, admin: Any) -> tuple[Account, str]:
    """Sign-up, profile, credentials, verification: the doctor is listed and may publish."""
    doctor = Account(app, "practitioner", "amina.bello@example.org")
    profile = ok(
        doctor.api.post(
            "practitioners/profile",
            {
                "name": {"prefix": ["Dr"], "given": ["Amina"], "family": "Bello"},
                "gender": "female",
                "specialties": [{"code": "394537008", "display": "Paediatrics"}],
                "qualifications": [
                    {
                        "code": "MBBS",
                        "display": "MBBS",
                        "issuer": "University of Lagos",
                        "year": 2012,
                    }
                ],
                "licence": {
                    "number": "MDCN/12345",
                    "issuer": "Medical and Dental Council of Nigeria",
                    "country": "NG",
                    "expires": (now_utc() + timedelta(days=700)).date().isoformat(),
                },
            },
        ),
        201,
    )
    practitioner = profile["practitioner"]
    ok(
        doctor.api.post(
            "practitioners/me/documents",
            data={"type": "licence", "file": (io.BytesIO(PDF), "licence.pdf")},
            content_type="multipart/form-data",
        ),
        201,
    )
    # Not verified yet: no availability, no prescriptions, not in the directory
    problem(doctor.api.post("scheduling/rules", ALL_DAY), 403)
    assert ok(admin.api.get("practitioners/directory"))["practitioners"] == []
    application = ok(admin.api.get(f"practitioners/applications/{practitioner}"))
    assert application["status"] == "pending" and len(application["documents"]) == 1
    ok(admin.api.post(f"practitioners/applications/{practitioner}/verify"))
    ok(doctor.api.post("scheduling/rules", {**ALL_DAY, "modes": ["video", "in-person"]}), 201)
    return doctor, practitioner


def test_a_doctor_and_a_parent_from_sign_up_to_a_reviewed_consultation(app, people, db):
    core = app.extensions["fireside"]
    admin = people.admin()
    doctor, practitioner = sign_up_doctor(app, admin)

    # The parent: account, own record, a child
    parent = Account(app, "guardian", "ngozi.okafor@example.org")
    ok(
        parent.api.post(
            "family/profile",
            {
                "name": {"given": ["Ngozi"], "family": "Okafor"},
                "birthDate": "1990-04-02",
                "gender": "female",
            },
        ),
        201,
    )
    child = ok(
        parent.api.post(
            "family/children",
            {
                "name": {"given": ["Tobi"], "family": "Okafor"},
                "birthDate": "2022-03-01",
                "gender": "male",
            },
        ),
        201,
    )["patient"]
    ok(parent.api.put("notifications/preferences", {"language": "en", "time_zone": "Africa/Lagos"}))
    # An allergy on the child's record, entered by the practice over FHIR
    allergy = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"text": "Penicillin"},
        "patient": {"reference": f"Patient/{child}"},
    }
    FhirClient(app.test_client(), issue_token(app)).create(allergy)

    # Find the doctor, a free slot in two days, and book it for the child by video
    listed = ok(parent.api.get("practitioners/directory", query_string={"q": "bello"}))
    assert [d["practitioner"] for d in listed["practitioners"]] == [practitioner]
    start = format_instant(now_utc() + timedelta(days=2))
    slots = ok(
        parent.api.get(
            "scheduling/slots", query_string={"practitioner": practitioner, "from": start}
        )
    )["slots"]
    booking = ok(
        parent.api.post(
            "scheduling/bookings", {"slot": slots[0]["slot"], "patient": child, "mode": "video"}
        ),
        201,
    )
    appointment = booking["appointment"]
    assert booking["status"] == "booked" and booking["video_room"]

    # Reminded: the 24 h and 1 h reminders are waiting; made due, they are sent
    with db.connect() as conn:
        reminders = conn.execute(
            sa.select(job_table.c.id).where(
                job_table.c.name == "notifications.reminder", job_table.c.state == "pending"
            )
        ).all()
    assert len(reminders) == 2
    with db.begin() as conn:
        conn.execute(
            sa.update(job_table)
            .where(job_table.c.name == "notifications.reminder")
            .values(available_at=now_utc() - timedelta(seconds=1))
        )
    core.jobs.sweep()
    core.jobs.drain()
    sent = ok(parent.api.get("notifications/deliveries"))["deliveries"]
    events = sorted({d["event"] for d in sent if d["status"] == "sent"})
    assert "appointment.booked" in events and "appointment.reminder" in events

    # The consultation: the doctor prescribes (the allergy is flagged), then fulfils it
    prescribed = ok(
        doctor.api.post(
            "prescriptions",
            {
                "patient": child,
                "medication": {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "308182",
                    "display": "Amoxicillin 250 mg/5 mL oral suspension",
                },
                "dosage": {
                    "text": "5 mL three times daily for 7 days",
                    "frequency": 3,
                    "period": 1,
                    "period_unit": "d",
                },
                "quantity": {"value": 105, "unit": "mL"},
                "refills": 0,
                "validity": {
                    "start": now_utc().date().isoformat(),
                    "end": (now_utc() + timedelta(days=30)).date().isoformat(),
                },
            },
        ),
        201,
    )
    assert len(prescribed["detected_issues"]) == 1  # amoxicillin is a penicillin
    mine = ok(parent.api.get("prescriptions", query_string={"patient": child}))
    assert [p["id"] for p in mine["prescriptions"]] == [prescribed["medication_request"]]
    ok(doctor.api.post(f"scheduling/bookings/{appointment}/status", {"status": "fulfilled"}))

    # Invoiced: one invoice for the consultation, with its PDF
    invoices = ok(parent.api.get("invoicing/invoices", query_string={"patient": child}))
    [invoice] = invoices["invoices"]
    assert invoice["appointment"] == appointment
    assert invoice["currency"] == "NGN" and invoice["net"] == 1500000
    pdf = parent.api.get(f"invoicing/invoices/{invoice['invoice']}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert invoice["number"] in text and "15,000.00" in text

    # Reviewed: one review, shown in the directory
    ok(parent.api.post("reviews", {"appointment": appointment, "stars": 5, "text": "Kind."}), 201)
    problem(parent.api.post("reviews", {"appointment": appointment, "stars": 4}), 409)
    entry = ok(parent.api.get(f"practitioners/directory/{practitioner}"))
    assert entry["rating"] == {"average": 5.0, "count": 1}

    # Everyone was told what concerned them
    sent = ok(parent.api.get("notifications/deliveries", query_string={"limit": 100}))
    told = {d["event"] for d in sent["deliveries"]}
    assert {"appointment.booked", "prescription.issued", "invoice.issued"} <= told
    doctor_told = {d["event"] for d in ok(doctor.api.get("notifications/deliveries"))["deliveries"]}
    assert {"practitioner.verified", "appointment.booked"} <= doctor_told
