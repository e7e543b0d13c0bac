"""The two journeys issue 6 names, end to end through the APIs with real tokens, on the
session app with every care plugin active:

* a doctor from sign-up to verified, bookable and prescribing;
* a parent from sign-up to a booked, reminded, invoiced and reviewed consultation for
  their child.

The doctor and the parent sign up the way a consumer app's user does: the sign-up page
(its form and CSRF token), the confirmation link from the mail the suite writes to its mail
folder, the sign-in page, then the OAuth authorization code flow with PKCE (the consent
page) and the token endpoint, whose access token the rest of the journey uses on ``/api``
and ``/fhir``. Only the admin and the consumer app's registration are set up directly.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from pypdf import PdfReader

from platform_core.fhir.instants import format_instant, now_utc
from platform_core.identity import passwords
from platform_core.identity.signup_views import CHECK_INBOX
from platform_core.jobs.schema import job_table
from platform_core.oauth.clients import Client, register_client
from tests.care.conftest import ApiClient, problem
from tests.care.scheduling_support import ALL_DAY
from tests.conftest import BASE, FhirClient, issue_token
from tests.oauth.conftest import auth_request, csrf_of, exchange, get_code

SCOPE = "openid fhirUser offline_access user/*.cruds"
PASSWORD = "a long and memorable passphrase"
APP_REDIRECT = "https://care-app.example.org/callback"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _one_week_horizon(app, monkeypatch):
    monkeypatch.setitem(app.extensions["fireside"].settings.extra, "scheduling_horizon_days", 7)


@pytest.fixture(autouse=True)
def _cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with minimal cost: the same code path, a fraction of the CPU."""
    monkeypatch.setattr(
        passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def care_app(db: sa.Engine) -> Client:
    """The consumer app, registered with the authorization server (a public client)."""
    return register_client(
        db, name="Fireside Care", kind="public", scope=SCOPE, redirect_uris=[APP_REDIRECT]
    ).client


def mail_folder(app: Any) -> Path:
    """The folder the suite's mail goes to (``mail_url`` of the session app)."""
    folder = app.extensions["fireside"].mailer.folder
    assert isinstance(folder, Path)
    return folder


def mailed_link(folder: Path, seen: set[str], address: str, path: str) -> str:
    """The token of the ``/auth/<path>/<token>`` link in a message to ``address`` written to
    ``folder`` since ``seen`` (the file names there before)."""
    tokens = []
    for file in sorted(folder.glob("*.eml")):
        if file.name in seen:
            continue
        message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        if message["To"] != address:
            continue
        body = message.get_content()  # type: ignore[attr-defined]
        tokens += re.findall(rf"{BASE}/auth/{path}/([A-Za-z0-9_\-]+)", body)
    assert len(tokens) == 1, f"expected one /auth/{path}/ link to {address}, found {tokens}"
    return tokens[0]


class Account:
    """A person who signed up through the pages, confirmed their address from the mail,
    signed in, and let the consumer app have a token through the OAuth code flow."""

    def __init__(self, app: Any, care_app: Client, role: str, address: str) -> None:
        web = app.test_client()  # the person's browser: keeps the session cookie
        folder = mail_folder(app)
        seen = {f.name for f in folder.glob("*.eml")} if folder.exists() else set()

        form = {
            "email": address,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "role": role,
            "csrf_token": csrf_of(web.get("/auth/signup")),
        }
        signed_up = web.post("/auth/signup", data=form)
        assert signed_up.status_code == 200, signed_up.get_data(as_text=True)[:2000]
        assert CHECK_INBOX in signed_up.get_data(as_text=True)

        token = mailed_link(folder, seen, address, "verify")
        confirm_page = web.get(f"/auth/verify/{token}")
        assert confirm_page.status_code == 200
        confirmed = web.post(f"/auth/verify/{token}", data={"csrf_token": csrf_of(confirm_page)})
        assert confirmed.status_code == 200, confirmed.get_data(as_text=True)[:2000]

        login = {"email": address, "password": PASSWORD, "next": ""}
        login["csrf_token"] = csrf_of(web.get("/auth/login"))
        signed_in = web.post("/auth/login", data=login)
        assert signed_in.status_code == 303, signed_in.get_data(as_text=True)[:2000]

        request = auth_request(care_app, SCOPE)
        code = get_code(web, request)
        issued = exchange(web, care_app, code, request)
        assert issued.status_code == 200, issued.get_json()
        body = issued.get_json()
        assert set(body["scope"].split()) == set(SCOPE.split()) and body["refresh_token"]
        access = body["access_token"]
        claims = app.extensions["fireside"].auth.tokens.verify(access)
        self.user_id = claims.user_id
        assert self.user_id is not None and claims.generation == 0
        client = app.test_client()
        self.api = ApiClient(client, access)
        self.fhir = FhirClient(client, access)


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:800])
    return resp.get_json()


def sign_up_doctor(app: Any, care_app: Client, admin: Any) -> tuple[Account, str]:
    """Sign-up, profile, credentials, verification: the doctor is listed and may publish."""
    doctor = Account(app, care_app, "practitioner", "amina.bello@example.org")
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


def test_a_doctor_and_a_parent_from_sign_up_to_a_reviewed_consultation(app, people, db, care_app):
    core = app.extensions["fireside"]
    admin = people.admin()
    doctor, practitioner = sign_up_doctor(app, care_app, admin)

    # The parent: account (signed up like the doctor), own record, a child
    parent = Account(app, care_app, "guardian", "ngozi.okafor@example.org")
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
