"""Notifications end to end: care events in, real email out (through a real local SMTP
server), SMS and push through recording senders, retries, the delivery log, reminders.

The tests run a second app on the suite's database whose ``mail_url`` points at an
aiosmtpd server of this module, with the other care plugins switched off, publish events
themselves the way the care plugins do (``core.jobs.publish`` in a transaction), and see
the jobs run inline right after the commit. Delayed jobs (retries, reminders) are made due
by hand and run with ``sweep()``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from platform_core.app import create_app
from platform_core.fhir.context import RequestContext
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.identity.mail import SmtpMailer
from platform_core.identity.users import set_status
from platform_core.jobs.definitions import JobContext
from platform_core.jobs.schema import job_table
from plugins.notifications import senders
from plugins.notifications.channels.base import DeliveryError, PushMessage, SmsMessage
from plugins.notifications.schema import delivery_table
from tests.conftest import BASE

START = "2030-12-03T09:00:00+00:00"
"""A Tuesday, far enough ahead that its reminders wait (and are never run here)."""
MAX_ATTEMPTS = 3
OTHER_CARE_PLUGINS = (
    "family",
    "practitioners",
    "scheduling",
    "prescriptions",
    "invoicing",
    "reviews",
    "care_metrics",
)
"""Switched off in this module's app: the events here are the ones the tests publish (with
scheduling on, writing an Appointment would publish its own)."""


# --- a real SMTP server and an app that mails to it --------------------------------------


class Inbox:
    """An aiosmtpd handler keeping every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def one(self, address: str) -> EmailMessage:
        found = self.to(address)
        assert len(found) == 1, [m["Subject"] for m in found]
        return found[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def notify_app(app: Flask, smtp: tuple[Inbox, int]) -> Iterator[Flask]:
    application = create_app(
        {
            "database_url": app.extensions["fireside"].settings.database_url,
            "base_url": BASE,
            "mail_url": f"smtp://127.0.0.1:{smtp[1]}",
            "jobs_inline_background": False,
            "jobs_inline_sync": True,
            "audit_flush_ms": 3_600_000,
            "notifications_max_attempts": MAX_ATTEMPTS,
            "plugins_disabled": OTHER_CARE_PLUGINS,
        }
    )
    yield application
    application.extensions["fireside"].dispose()


@pytest.fixture
def core(notify_app: Flask) -> Iterator[Any]:
    core = notify_app.extensions["fireside"]
    yield core
    core.audit.flush()  # before the suite's cleanup empties the tables


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    smtp[0].messages.clear()
    return smtp[0]


# --- helpers -------------------------------------------------------------------------------


def publish(core: Any, event: str, payload: dict[str, Any]) -> None:
    """Publish a care event as its plugin would (its jobs run right after the commit)."""
    with core.repository.transaction() as conn:
        core.jobs.publish(conn, event, payload)


def email_of(core: Any, person: Any) -> str:
    with core.db.connect() as conn:
        return conn.execute(
            sa.text("SELECT email FROM auth_user WHERE id = :id"), {"id": person.user_id}
        ).scalar_one()


def deliveries(core: Any, **where: Any) -> list[Any]:
    query = sa.select(delivery_table).order_by(delivery_table.c.id)
    for name, value in where.items():
        query = query.where(delivery_table.c[name] == value)
    with core.db.connect() as conn:
        return list(conn.execute(query))


def jobs_named(core: Any, name: str) -> list[Any]:
    with core.db.connect() as conn:
        return list(
            conn.execute(sa.select(job_table).where(job_table.c.name == name).order_by("id"))
        )


def make_due(core: Any, name: str) -> None:
    """Move the next try of every pending job ``name`` into the past."""
    with core.db.begin() as conn:
        conn.execute(
            sa.update(job_table)
            .where(job_table.c.name == name, job_table.c.state == "pending")
            .values(available_at=now_utc() - timedelta(seconds=1))
        )


def body(message: EmailMessage) -> str:
    return str(message.get_content()).replace("\r\n", "\n")


def appointment(
    core: Any, patient: str, practitioner: str, start: str, status: str = "booked"
) -> str:
    """An Appointment as scheduling writes it; its id."""
    start_at = datetime.fromisoformat(start)
    resource = {
        "resourceType": "Appointment",
        "status": status,
        "start": start,
        "end": (start_at + timedelta(minutes=30)).isoformat(),
        "participant": [
            {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{practitioner}"}, "status": "accepted"},
        ],
    }
    with core.repository.transaction() as conn:
        return str(core.repository.create(RequestContext.system(), conn, resource).id)


def set_appointment(core: Any, appointment_id: str, **changes: Any) -> None:
    with core.repository.transaction() as conn:
        current = core.repository.read(
            RequestContext.system(), "Appointment", appointment_id, conn=conn
        ).resource()
        current.update(changes)
        if "start" in changes:
            start_at = datetime.fromisoformat(changes["start"])
            current["end"] = (start_at + timedelta(minutes=30)).isoformat()
        core.repository.update(
            RequestContext.system(), conn, "Appointment", appointment_id, current
        )


def booking(appointment_id: str, patient: str, practitioner: str, start: str = START) -> dict:
    start_at = datetime.fromisoformat(start)
    return {
        "appointment": appointment_id,
        "patient": patient,
        "practitioner": practitioner,
        "start": start,
        "end": (start_at + timedelta(minutes=30)).isoformat(),
        "status": "booked",
        "service": "general-consultation",
        "service_display": "General consultation",
        "mode": "in-person",
        "price": {"amount": 1500000, "currency": "NGN"},
    }


def prefer(person: Any, **preferences: Any) -> None:
    resp = person.api.put("notifications/preferences", preferences)
    assert resp.status_code == 200, resp.get_json()


@dataclass
class Family:
    """A guardian (French, in Paris) with a child, and a doctor (English, in Lagos)."""

    guardian: Any
    child: str
    doctor: Any


@pytest.fixture
def family(people: Any) -> Family:
    guardian = people.guardian(child_given="Tobi")
    doctor = people.practitioner()
    prefer(guardian, language="fr", time_zone="Europe/Paris")
    prefer(doctor, language="en", time_zone="Africa/Lagos")
    return Family(guardian, guardian.children[0], doctor)


# --- events reach the right people, in their language and time zone ----------------------


def test_a_booking_mails_the_guardian_in_french_and_the_doctor_in_english(core, inbox, family):
    appt = appointment(core, family.child, family.doctor.id, START)
    publish(core, "appointment.booked", booking(appt, family.child, family.doctor.id))

    to_parent = inbox.one(email_of(core, family.guardian))
    assert to_parent["Subject"] == ("Rendez-vous confirmé avec Dr Amina Bello, 3 déc. 10h00 CET")
    assert "Le rendez-vous de Tobi Okafor avec Dr Amina Bello est confirmé." in body(to_parent)
    assert "mardi 3 décembre 2030 à 10h00 (Europe/Paris, UTC+01:00)" in body(to_parent)
    assert "15 000,00 NGN" in body(to_parent), body(to_parent)
    assert to_parent["Content-Language"] == "fr"
    assert to_parent["From"] == "Fireside <no-reply@testserver>"
    assert to_parent["X-Fireside-Event"] == "appointment.booked"
    assert to_parent["Date"].datetime is not None
    assert to_parent.get_content_type() == "text/plain"
    assert to_parent.get_content_charset() == "utf-8"
    assert not to_parent.defects and not to_parent["Subject"].defects

    to_doctor = inbox.one(email_of(core, family.doctor))
    assert to_doctor["Subject"] == "New booking: Tobi Okafor, 3 Dec 10:00 WAT"
    assert "Tuesday 3 December 2030 at 10:00 (Africa/Lagos, UTC+01:00)" in body(to_doctor)
    assert "NGN" not in body(to_doctor)  # the price is the family's business
    assert len(inbox.messages) == 2

    rows = deliveries(core, resource=f"Appointment/{appt}")
    assert {(r.user_id, r.channel, r.status, r.attempts, r.provider) for r in rows} == {
        (family.guardian.user_id, "email", "sent", 1, "smtp"),
        (family.doctor.user_id, "email", "sent", 1, "smtp"),
    }
    sent = {r.user_id: r for r in rows}[family.guardian.user_id]
    assert sent.sent_at is not None
    assert sent.provider_message_id == to_parent["Message-ID"]
    assert to_parent["Message-ID"].startswith(f"<notification.{sent.id}.")
    assert sent.key == (
        f"appointment.booked:{appt}:2030-12-03T09:00:00.000Z:{family.guardian.user_id}:email"
    )


def test_without_preferences_a_patient_reads_english_in_utc(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    appt = appointment(core, patient.id, doctor.id, START)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id))
    message = inbox.one(email_of(core, patient))
    assert message["Subject"] == "Appointment confirmed with Dr Amina Bello, 3 Dec 09:00 UTC"
    assert "Tuesday 3 December 2030 at 09:00 (UTC)" in body(message)
    assert "Price: NGN 15,000.00" in body(message)


def test_a_patient_and_their_guardians_are_all_told(core, inbox, people):
    """A child with their own account and a guardian: both get the prescription news."""
    guardian = people.guardian(child_given="Zara")
    child = guardian.children[0]
    doctor = people.practitioner()
    publish(
        core,
        "prescription.issued",
        {
            "medication_request": "mr-1",
            "patient": child,
            "practitioner": doctor.id,
            "medication": "Amoxicillin 250 mg",
        },
    )
    message = inbox.one(email_of(core, guardian))
    assert message["Subject"] == "New prescription for Zara Okafor"
    assert "Dr Amina Bello prescribed Amoxicillin 250 mg for Zara Okafor." in body(message)
    assert inbox.to(email_of(core, doctor)) == []  # the prescriber is not told
    assert [r.resource for r in deliveries(core)] == ["MedicationRequest/mr-1"]


def test_cancellation_tells_both_sides_with_the_reason(core, inbox, family):
    payload = {
        **booking("a-9", family.child, family.doctor.id),
        "status": "cancelled",
        "reason": "Doctor unavailable",
    }
    publish(core, "appointment.cancelled", payload)
    parent = inbox.one(email_of(core, family.guardian))
    assert parent["Subject"] == "Rendez-vous annulé : 3 déc. 10h00 CET"
    assert "Motif : Doctor unavailable" in body(parent)
    doctor = inbox.one(email_of(core, family.doctor))
    assert doctor["Subject"] == "Appointment cancelled: 3 Dec 10:00 WAT"
    assert "The time is free again in your schedule." in body(doctor)


def test_rescheduling_shows_the_new_and_the_old_time(core, inbox, family):
    payload = {
        **booking("a-7", family.child, family.doctor.id, "2030-12-04T15:30:00+00:00"),
        "previous_start": START,
    }
    publish(core, "appointment.rescheduled", payload)
    doctor = inbox.one(email_of(core, family.doctor))
    assert doctor["Subject"] == "Appointment moved to 4 Dec 16:30 WAT"
    assert "New time: Wednesday 4 December 2030 at 16:30 (Africa/Lagos" in body(doctor)
    assert "It was: Tuesday 3 December 2030 at 10:00 (Africa/Lagos" in body(doctor)
    parent = inbox.one(email_of(core, family.guardian))
    assert "Nouvel horaire : mercredi 4 décembre 2030 à 16h30" in body(parent)


def test_a_second_rescheduling_notifies_again(core, inbox, family):
    first = {**booking("a-8", family.child, family.doctor.id, "2030-12-05T09:00:00Z")}
    second = {**first, "start": "2030-12-06T09:00:00Z", "previous_start": first["start"]}
    publish(core, "appointment.rescheduled", first)
    publish(core, "appointment.rescheduled", second)
    subjects = [m["Subject"] for m in inbox.to(email_of(core, family.doctor))]
    assert subjects == [
        "Appointment moved to 5 Dec 10:00 WAT",
        "Appointment moved to 6 Dec 10:00 WAT",
    ]


def test_a_fulfilled_consultation_asks_the_family_for_a_review(core, inbox, family):
    publish(core, "appointment.fulfilled", booking("a-6", family.child, family.doctor.id))
    parent = inbox.one(email_of(core, family.guardian))
    assert parent["Subject"] == "Comment s'est passée la consultation avec Dr Amina Bello ?"
    assert inbox.to(email_of(core, family.doctor)) == []


def test_an_invoice_shows_its_total(core, inbox, people):
    patient = people.patient(given="Chidi")
    prefer(patient, language="fr")
    publish(
        core,
        "invoice.issued",
        {
            "invoice": "inv-1",
            "patient": patient.id,
            "appointment": "a-1",
            "total": {"amount": 2500000, "currency": "XOF"},
        },
    )
    message = inbox.one(email_of(core, patient))
    assert message["Subject"] == "Votre facture (2 500 000 XOF)"
    assert "La facture de la consultation de Chidi Okafor est prête : 2 500 000 XOF." in body(
        message
    )


@pytest.mark.parametrize(
    ("event", "subject", "line"),
    [
        ("practitioner.verified", "Your Fireside practitioner account is verified", None),
        (
            "practitioner.rejected",
            "Your Fireside practitioner application was not approved",
            "Reason: The licence number is not on the register",
        ),
        (
            "practitioner.suspended",
            "Your Fireside practitioner account is suspended",
            "Reason: The licence number is not on the register",
        ),
    ],
)
def test_practitioner_account_events_mail_the_account(core, inbox, people, event, subject, line):
    doctor = people.practitioner(verified=False)
    payload = {"practitioner": doctor.id, "user_id": doctor.user_id}
    if line:
        payload["reason"] = "The licence number is not on the register"
    publish(core, event, payload)
    message = inbox.one(email_of(core, doctor))
    assert message["Subject"] == subject
    assert body(message).startswith("Hello Dr Amina Bello,")
    if line:
        assert line in body(message)
    assert len(inbox.messages) == 1


def test_a_suspended_practitioner_is_still_told_why(core, inbox, people):
    doctor = people.practitioner()
    set_status(core.db, doctor.user_id, "suspended")
    publish(
        core,
        "practitioner.suspended",
        {"practitioner": doctor.id, "user_id": doctor.user_id, "reason": "Complaints"},
    )
    assert "Reason: Complaints" in body(inbox.one(email_of(core, doctor)))


def test_an_inactive_patient_account_is_not_told_about_care(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    set_status(core.db, patient.user_id, "suspended")
    publish(core, "appointment.booked", booking("a-5", patient.id, doctor.id))
    assert inbox.to(email_of(core, patient)) == []
    assert len(inbox.to(email_of(core, doctor))) == 1


def test_events_about_people_without_accounts_send_nothing(core, inbox, people):
    publish(core, "practitioner.verified", {"practitioner": "nobody", "user_id": "no-such-user"})
    publish(core, "appointment.booked", booking("a-4", "no-patient", "no-doctor"))
    publish(core, "invoice.issued", {"invoice": "i", "patient": "no-patient", "total": None})
    assert inbox.messages == []
    assert deliveries(core) == []
    assert jobs_named(core, "notifications.on_event") == []  # ran inside each publisher


def test_a_duplicate_event_sends_one_email(core, inbox, family):
    payload = booking("a-3", family.child, family.doctor.id)
    publish(core, "appointment.booked", payload)
    publish(core, "appointment.booked", payload)
    assert len(inbox.to(email_of(core, family.guardian))) == 1
    assert len(inbox.to(email_of(core, family.doctor))) == 1
    assert len(deliveries(core)) == 2
    assert jobs_named(core, "notifications.on_event") == []  # ran inside each publisher
    assert len(jobs_named(core, "notifications.deliver")) == 1


def test_a_fan_out_that_fails_in_the_publisher_goes_through_the_outbox(
    core, inbox, family, monkeypatch
):
    """``on_event`` runs inside the publisher's transaction, in a savepoint: when it raises,
    its rows roll back alone, the publisher commits, and the event reaches its readers
    through an ``on_event`` job once the cause is gone."""
    from plugins.notifications import jobs as notification_jobs

    real = notification_jobs.fan_out
    calls: list[str] = []

    def broken_once(ctx: Any, notice: Any) -> int:
        calls.append(notice.event)
        if len(calls) == 1:
            real(ctx, notice)  # rows written, then the failure: all of it must roll back
            raise RuntimeError("a template is broken")
        return real(ctx, notice)

    monkeypatch.setattr(notification_jobs, "fan_out", broken_once)
    with core.repository.transaction() as conn:
        core.jobs.publish(
            conn, "appointment.booked", booking("a-9", family.child, family.doctor.id)
        )
        marker = conn.execute(sa.text("SELECT 1")).scalar_one()  # the publisher goes on
    assert marker == 1
    [job] = jobs_named(core, "notifications.on_event")
    assert job.state == "done"  # run inline after the commit, the second time through
    assert len(calls) == 2
    assert len(deliveries(core)) == 2  # the failed try left no rows; the job wrote them once
    assert len(inbox.to(email_of(core, family.guardian))) == 1


def test_payload_text_cannot_add_headers_or_lines_to_a_message(core, inbox, people):
    doctor = people.practitioner(verified=False)
    publish(
        core,
        "practitioner.rejected",
        {
            "practitioner": doctor.id,
            "user_id": doctor.user_id,
            "reason": "Bad scan\r\nBcc: thief@example.org\n\nSubject: {{ base_url }}",
        },
    )
    message = inbox.one(email_of(core, doctor))
    assert message["Bcc"] is None
    assert "Reason: Bad scan Bcc: thief@example.org Subject: {{ base_url }}" in body(message)


# --- preferences and opt-out ------------------------------------------------------------------


def test_an_opted_out_event_sends_nothing_and_logs_nothing(core, inbox, family):
    prefer(family.guardian, opted_out_events=["appointment.booked"])
    publish(core, "appointment.booked", booking("a-2", family.child, family.doctor.id))
    assert inbox.to(email_of(core, family.guardian)) == []
    assert len(inbox.to(email_of(core, family.doctor))) == 1
    assert [r.user_id for r in deliveries(core)] == [family.doctor.user_id]
    # ...and other events still come through
    publish(core, "appointment.cancelled", booking("a-2", family.child, family.doctor.id))
    assert len(inbox.to(email_of(core, family.guardian))) == 1


def test_email_switched_off_sends_no_email(core, inbox, family):
    prefer(family.doctor, email_enabled=False)
    publish(core, "appointment.booked", booking("a-1", family.child, family.doctor.id))
    assert inbox.to(email_of(core, family.doctor)) == []
    assert len(inbox.to(email_of(core, family.guardian))) == 1


def test_account_events_always_go_by_email(core, inbox, people):
    doctor = people.practitioner(verified=False)
    prefer(
        doctor,
        email_enabled=False,
        opted_out_events=["practitioner.verified", "practitioner.suspended"],
    )
    publish(core, "practitioner.verified", {"practitioner": doctor.id, "user_id": doctor.user_id})
    assert inbox.one(email_of(core, doctor))["Subject"] == (
        "Your Fireside practitioner account is verified"
    )


# --- SMS and push -------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A provider adapter that keeps what it was given, or fails as told."""

    name: str
    sent: list[Any] = field(default_factory=list)
    fail: DeliveryError | None = None

    def send(self, message: Any) -> str:
        if self.fail is not None:
            raise self.fail
        self.sent.append(message)
        return f"{self.name}-{len(self.sent)}"


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> tuple[Recorder, Recorder]:
    sms, push = Recorder("test-sms"), Recorder("test-push")
    monkeypatch.setattr(senders, "sms_sender_from_settings", lambda extra: sms)
    monkeypatch.setattr(senders, "push_sender_from_settings", lambda extra: push)
    return sms, push


def test_sms_and_push_go_to_the_phone_and_every_device(core, inbox, people, providers):
    sms, push = providers
    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, phone="+2348012345678", time_zone="Africa/Lagos")
    for token, platform in (("tok-phone", "android"), ("tok-tablet", "ios")):
        resp = patient.api.post("notifications/devices", {"token": token, "platform": platform})
        assert resp.status_code == 201
    appt = appointment(core, patient.id, doctor.id, START)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id))

    assert sms.sent == [
        SmsMessage(
            "+2348012345678",
            "Fireside: Ada Okafor's appointment with Dr Amina Bello is booked for 3 Dec 10:00 WAT.",
        )
    ]
    assert sorted(m.token for m in push.sent) == ["tok-phone", "tok-tablet"]
    assert push.sent[0] == PushMessage(
        token=push.sent[0].token,
        title="Appointment booked",
        body="Dr Amina Bello, 3 Dec 10:00 WAT",
        data={"event": "appointment.booked", "resource": f"Appointment/{appt}"},
    )
    rows = deliveries(core, user_id=patient.user_id)
    assert sorted((r.channel, r.status, r.provider) for r in rows) == [
        ("email", "sent", "smtp"),
        ("push", "sent", "test-push"),
        ("push", "sent", "test-push"),
        ("sms", "sent", "test-sms"),
    ]
    assert {r.provider_message_id for r in rows if r.channel == "sms"} == {"test-sms-1"}
    # the doctor registered neither a phone nor a device: email only
    assert [r.channel for r in deliveries(core, user_id=doctor.user_id)] == ["email"]


def test_without_a_provider_no_sms_is_attempted(core, inbox, people, monkeypatch):
    monkeypatch.setattr(senders, "sms_sender_from_settings", lambda extra: None)
    monkeypatch.setattr(senders, "push_sender_from_settings", lambda extra: None)
    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, phone="+2348012345678")
    patient.api.post("notifications/devices", {"token": "tok-1", "platform": "web"})
    publish(core, "appointment.booked", booking("a-11", patient.id, doctor.id))
    assert [r.channel for r in deliveries(core, user_id=patient.user_id)] == ["email"]


def test_switched_off_channels_are_not_used(core, inbox, people, providers):
    sms, push = providers
    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, phone="+2348012345678", sms_enabled=False, push_enabled=False)
    patient.api.post("notifications/devices", {"token": "tok-1", "platform": "web"})
    publish(core, "appointment.booked", booking("a-12", patient.id, doctor.id))
    assert sms.sent == [] and push.sent == []


def test_a_number_the_provider_refuses_fails_at_once(core, inbox, people, providers):
    sms, _ = providers
    sms.fail = DeliveryError("21211: invalid 'To' number", retryable=False)
    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, phone="+2348012345678")
    publish(core, "appointment.booked", booking("a-13", patient.id, doctor.id))
    [row] = deliveries(core, user_id=patient.user_id, channel="sms")
    assert (row.status, row.attempts, row.sent_at) == ("failed", 1, None)
    assert row.error == "DeliveryError: 21211: invalid 'To' number"
    # the email went anyway
    assert deliveries(core, user_id=patient.user_id, channel="email")[0].status == "sent"


def test_a_provider_outage_is_retried_until_it_passes(core, inbox, people, providers):
    _, push = providers
    push.fail = DeliveryError("503 from FCM")
    patient, doctor = people.patient(), people.practitioner()
    patient.api.post("notifications/devices", {"token": "tok-9", "platform": "android"})
    publish(core, "appointment.booked", booking("a-14", patient.id, doctor.id))
    [row] = deliveries(core, channel="push")
    assert (row.status, row.attempts) == ("queued", 0)
    push.fail = None
    make_due(core, "notifications.deliver")
    assert core.jobs.sweep() == 1
    [row] = deliveries(core, channel="push")
    assert (row.status, row.attempts, row.provider_message_id) == ("sent", 2, "test-push-1")


def test_a_channel_that_keeps_failing_does_not_resend_the_others(core, inbox, people, providers):
    """One job sends a notice's deliveries. The patient's SMS (between the patient's email
    and the doctor's) fails retryably on every attempt: both emails are still sent in the
    first run, once, and each retry tries the SMS alone until it is recorded failed."""
    sms, _ = providers
    sms.fail = DeliveryError("503 from the SMS gateway")
    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, phone="+2348012345678")
    publish(core, "appointment.booked", booking("a-mixed", patient.id, doctor.id))
    [job] = jobs_named(core, "notifications.deliver")
    rows = deliveries(core)
    assert [(r.user_id, r.channel) for r in rows] == [
        (patient.user_id, "email"),
        (patient.user_id, "sms"),
        (doctor.user_id, "email"),
    ]
    assert json.loads(job.payload) == {"deliveries": [r.id for r in rows]}
    assert (job.state, job.attempts) == ("pending", 1)
    assert "503 from the SMS gateway" in job.last_error
    assert [(r.channel, r.status, r.attempts) for r in deliveries(core)] == [
        ("email", "sent", 1),
        ("sms", "queued", 0),
        ("email", "sent", 1),
    ]
    assert len(inbox.messages) == 2

    for _ in range(MAX_ATTEMPTS - 1):
        make_due(core, "notifications.deliver")
        assert core.jobs.sweep() == 1
    assert len(inbox.messages) == 2  # the emails were not sent again
    assert sms.sent == []
    rows = deliveries(core)
    assert [(r.channel, r.status, r.attempts, r.error) for r in rows] == [
        ("email", "sent", 1, None),
        ("sms", "failed", MAX_ATTEMPTS, "DeliveryError: 503 from the SMS gateway"),
        ("email", "sent", 1, None),
    ]
    [job] = jobs_named(core, "notifications.deliver")
    assert (job.state, job.attempts) == ("done", MAX_ATTEMPTS)


def test_fanning_out_takes_as_many_statements_for_one_reader_as_for_many(
    core, inbox, people, providers
):
    """Accounts, preferences, devices and known keys are read for all recipients at once,
    and their deliveries written in one INSERT with one job."""
    from plugins.notifications.fanout import Recipient, fan_out
    from plugins.notifications.notices import notice_for_event

    doctor = people.practitioner()
    readers = [people.patient(given=given) for given in ("Ada", "Bola", "Chidi", "Dayo")]
    prefer(readers[0], phone="+2348012345678")
    readers[1].api.post("notifications/devices", {"token": "tok-b", "platform": "web"})
    readers[2].api.post("notifications/devices", {"token": "tok-c", "platform": "ios"})

    def fan_out_to(request: str, told: list[Any]) -> tuple[int, int]:
        """(deliveries queued, statements sent) of a prescription notice for ``told``."""
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        payload = {
            "medication_request": request,
            "patient": readers[0].id,
            "practitioner": doctor.id,
        }
        with core.repository.transaction() as conn:
            notice = notice_for_event(core, conn, "prescription.issued", payload)
            notice.recipients = [Recipient(p.user_id, "patient") for p in told]
            context = JobContext(None, "test", {}, 1, conn, core)
            sa.event.listen(core.db, "before_cursor_execute", count)
            try:
                queued = fan_out(context, notice)
            finally:
                sa.event.remove(core.db, "before_cursor_execute", count)
        return queued, len(statements)

    queued, for_one = fan_out_to("mr-one", readers[:1])
    assert queued == 2  # email and SMS
    queued, for_all = fan_out_to("mr-all", [*readers, readers[0]])
    assert queued == 7  # four emails, the SMS, two devices
    assert for_all == for_one
    assert fan_out_to("mr-all", readers) == (0, for_one - 2)  # no INSERT, no job
    assert len(jobs_named(core, "notifications.deliver")) == 2


def test_an_adapter_that_breaks_its_contract_still_ends_in_the_log(core, inbox, people):
    """An adapter letting out something else than DeliveryError is retried like an outage,
    and the delivery is recorded failed after the last attempt (not left queued)."""

    class Broken:
        name = "broken"

        def send(self, message: Any) -> str:
            raise RuntimeError("adapter bug")

    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, phone="+2348012345678")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(senders, "sms_sender_from_settings", lambda extra: Broken())
        publish(core, "appointment.booked", booking("a-18", patient.id, doctor.id))
        for _ in range(MAX_ATTEMPTS - 1):
            make_due(core, "notifications.deliver")
            core.jobs.sweep()
    [row] = deliveries(core, channel="sms")
    assert (row.status, row.attempts, row.error) == (
        "failed",
        MAX_ATTEMPTS,
        "RuntimeError: adapter bug",
    )
    assert {j.state for j in jobs_named(core, "notifications.deliver")} == {"done"}


# --- a mail outage: retried, then recorded as failed, never lost ---------------------------


@pytest.fixture
def smtp_down(core: Any) -> Iterator[None]:
    working = core.mailer
    core.mailer = SmtpMailer("127.0.0.1", free_port())  # nothing listens there
    yield
    core.mailer = working


def test_a_mail_outage_is_retried_then_recorded_as_failed(core, inbox, people, smtp_down):
    patient, doctor = people.patient(), people.practitioner()
    publish(core, "appointment.booked", booking("a-15", patient.id, doctor.id))
    rows = deliveries(core)
    assert [(r.status, r.attempts) for r in rows] == [("queued", 0), ("queued", 0)]
    [job] = jobs_named(core, "notifications.deliver")  # one job for the notice's deliveries
    assert (job.state, job.attempts) == ("pending", 1)
    assert "MailError" in job.last_error
    assert job.available_at > now_utc()  # backing off

    for attempt in range(2, MAX_ATTEMPTS + 1):
        make_due(core, "notifications.deliver")
        assert core.jobs.sweep() == 1
        expected = "done" if attempt == MAX_ATTEMPTS else "pending"
        assert {j.state for j in jobs_named(core, "notifications.deliver")} == {expected}

    rows = deliveries(core)
    assert {(r.status, r.attempts, r.sent_at) for r in rows} == {("failed", MAX_ATTEMPTS, None)}
    assert all(r.error.startswith("MailError: SMTP 127.0.0.1:") for r in rows)
    assert inbox.messages == []


def test_mail_that_comes_back_before_the_last_attempt_is_delivered(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    working = core.mailer
    core.mailer = SmtpMailer("127.0.0.1", free_port())
    try:
        publish(core, "appointment.booked", booking("a-16", patient.id, doctor.id))
    finally:
        core.mailer = working
    assert inbox.messages == []
    make_due(core, "notifications.deliver")
    assert core.jobs.sweep() == 1
    assert len(inbox.messages) == 2
    assert {(r.status, r.attempts) for r in deliveries(core)} == {("sent", 2)}


def test_a_retried_delivery_keeps_its_message_id(core, inbox, people):
    """The Message-ID is the delivery's, so the retry of a send that may have gone through
    is recognisable as the same message."""
    patient, doctor = people.patient(), people.practitioner()
    prefer(doctor, email_enabled=False)
    publish(core, "appointment.booked", booking("a-17", patient.id, doctor.id))
    [row] = deliveries(core)
    first = inbox.one(email_of(core, patient))["Message-ID"]
    from plugins.notifications.senders import email_message

    assert email_message(core, row)["Message-ID"] == first


# --- a slow mail server holds no database lock ---------------------------------------------


class SlowInbox(Inbox):
    """An SMTP handler that keeps each message waiting until the test releases it (as a
    slow or overloaded mail server would), at most ``hold_s`` seconds."""

    def __init__(self, hold_s: float) -> None:
        super().__init__()
        self.hold_s = hold_s
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, self.hold_s)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp(core: Any) -> Iterator[SlowInbox]:
    slow, port = SlowInbox(hold_s=8.0), free_port()
    controller = Controller(slow, hostname="127.0.0.1", port=port)
    controller.start()
    working = core.mailer
    core.mailer = SmtpMailer("127.0.0.1", port)
    try:
        yield slow
    finally:
        slow.release.set()
        core.mailer = working
        controller.stop()


def test_a_slow_mail_server_does_not_hold_up_other_writers(core, people, slow_smtp):
    """The message is sent with no transaction open: while the mail server sits on it, a
    FHIR write goes through at once (on SQLite, where a job's transaction would be the
    database's one write lock), and the delivery is then recorded once, as sent."""
    patient, doctor = people.patient(), people.practitioner()
    prefer(doctor, email_enabled=False)
    sending = threading.Thread(
        target=publish, args=(core, "appointment.booked", booking("a-slow", patient.id, doctor.id))
    )
    sending.start()  # its jobs run inline in that thread, right after its commit
    try:
        assert slow_smtp.arrived.wait(10), "the delivery never reached the mail server"
        started = time.monotonic()
        with core.repository.transaction() as conn:
            core.repository.create(
                RequestContext.system(), conn, {"resourceType": "Patient", "active": True}
            )
        assert time.monotonic() - started < 2.0  # not the 8 s the mail server holds on
        [row] = deliveries(core)
        assert row.status == "queued"  # still being sent
    finally:
        slow_smtp.release.set()
        sending.join(30)
    assert not sending.is_alive()
    [row] = deliveries(core)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(slow_smtp.messages) == 1
    [job] = jobs_named(core, "notifications.deliver")
    assert (job.state, job.attempts) == ("done", 1)


def test_a_delivery_recorded_by_another_run_is_left_alone(core, inbox, people):
    """Runs of one delivery hold no lock while sending, so a duplicate hand-over may run
    beside the outbox's own: whichever records first wins (the record is written over a
    ``queued`` row only), and a later run finds it recorded and neither sends nor writes."""
    from plugins.notifications.jobs import deliver

    patient, doctor = people.patient(), people.practitioner()
    prefer(doctor, email_enabled=False)
    working = core.mailer
    core.mailer = SmtpMailer("127.0.0.1", free_port())  # the first attempt fails
    try:
        publish(core, "appointment.booked", booking("a-twice", patient.id, doctor.id))
    finally:
        core.mailer = working
    [row] = deliveries(core)
    [job] = jobs_named(core, "notifications.deliver")
    context = JobContext(job.id, job.name, {"delivery": row.id}, 2, None, core)
    deliver(context)  # a stray run sends and records "sent" at attempt 2
    make_due(core, "notifications.deliver")
    assert core.jobs.sweep() == 1  # the outbox's own retry finds it sent: nothing more
    assert len(inbox.messages) == 1
    [row] = deliveries(core)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_deliver_job_of_the_old_shape_still_sends_its_delivery(core, inbox, people):
    """A job queued before deliveries were batched (``{"delivery": id}``) still sends it,
    once: the newer job of the same delivery then finds it sent."""
    patient, doctor = people.patient(), people.practitioner()
    prefer(doctor, email_enabled=False)
    working = core.mailer
    core.mailer = SmtpMailer("127.0.0.1", free_port())  # the batched job's first try fails
    try:
        publish(core, "appointment.booked", booking("a-old", patient.id, doctor.id))
    finally:
        core.mailer = working
    [row] = deliveries(core)
    assert row.status == "queued"
    with core.repository.transaction() as conn:
        core.jobs.enqueue(conn, "notifications.deliver", {"delivery": row.id})
    [row] = deliveries(core)
    assert (row.status, row.attempts, row.provider) == ("sent", 1, "smtp")
    assert len(inbox.messages) == 1
    make_due(core, "notifications.deliver")
    assert core.jobs.sweep() == 1
    assert len(inbox.messages) == 1
    assert {j.state for j in jobs_named(core, "notifications.deliver")} == {"done"}


# --- reminders ---------------------------------------------------------------------------------


def soon(hours: float) -> str:
    """An appointment start ``hours`` from now, on the minute, as scheduling writes it."""
    at = (now_utc() + timedelta(hours=hours)).replace(second=0, microsecond=0)
    return at.isoformat()


def reminder_deliveries(core: Any) -> list[Any]:
    return deliveries(core, event="appointment.reminder")


def test_booking_schedules_reminders_a_day_and_an_hour_before(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    start = soon(72)
    appt = appointment(core, patient.id, doctor.id, start)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id, start))
    jobs = jobs_named(core, "notifications.reminder")
    start_at = datetime.fromisoformat(start)
    key_start = format_instant(start_at)
    assert [j.idempotency_key for j in jobs] == [
        f"reminder:{appt}:24h:{key_start}",
        f"reminder:{appt}:1h:{key_start}",
    ]
    for job, lead in zip(jobs, (24, 1), strict=True):
        assert job.state == "pending"
        assert abs(job.available_at - (start_at - timedelta(hours=lead))) < timedelta(minutes=1)
    assert reminder_deliveries(core) == []

    make_due(core, "notifications.reminder")
    assert core.jobs.sweep() == 2
    subjects = sorted(m["Subject"] for m in inbox.to(email_of(core, patient)))
    assert subjects[0].startswith("Appointment confirmed")
    assert subjects[1].startswith("Reminder: appointment in one hour, ")
    assert subjects[2].startswith("Reminder: appointment tomorrow, ")
    doctor_subjects = [m["Subject"] for m in inbox.to(email_of(core, doctor))]
    assert sum(s.startswith("Reminder:") for s in doctor_subjects) == 2
    assert {(r.status, r.resource) for r in reminder_deliveries(core)} == {
        ("sent", f"Appointment/{appt}")
    }
    assert len(reminder_deliveries(core)) == 4


def test_a_reminder_whose_time_has_passed_is_not_scheduled(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    start = soon(3)
    appt = appointment(core, patient.id, doctor.id, start)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id, start))
    assert [
        j.idempotency_key.split(":")[2] for j in jobs_named(core, "notifications.reminder")
    ] == ["1h"]


def test_a_cancelled_appointment_gets_no_reminder(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    start = soon(48)
    appt = appointment(core, patient.id, doctor.id, start)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id, start))
    set_appointment(core, appt, status="cancelled")
    cancelled = {**booking(appt, patient.id, doctor.id, start), "status": "cancelled"}
    publish(core, "appointment.cancelled", cancelled)
    inbox.messages.clear()

    make_due(core, "notifications.reminder")
    assert core.jobs.sweep() == 2
    assert inbox.messages == []
    assert reminder_deliveries(core) == []
    assert {j.state for j in jobs_named(core, "notifications.reminder")} == {"done"}


def test_a_rescheduled_appointment_is_reminded_at_its_new_time_only(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, time_zone="Africa/Lagos")
    old, new = soon(48), soon(96)
    appt = appointment(core, patient.id, doctor.id, old)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id, old))
    set_appointment(core, appt, start=new)
    moved = {**booking(appt, patient.id, doctor.id, new), "previous_start": old}
    publish(core, "appointment.rescheduled", moved)
    assert len(jobs_named(core, "notifications.reminder")) == 4
    inbox.messages.clear()

    make_due(core, "notifications.reminder")
    assert core.jobs.sweep() == 4
    reminders = inbox.to(email_of(core, patient))
    assert len(reminders) == 2
    new_at = datetime.fromisoformat(new)
    assert {r.resource for r in reminder_deliveries(core)} == {f"Appointment/{appt}"}
    assert all(format_instant(new_at) in r.key for r in reminder_deliveries(core))
    lagos = new_at + timedelta(hours=1)
    assert all(f"{lagos:%H:%M} WAT" in m["Subject"] for m in reminders)


def test_a_reminder_for_a_deleted_appointment_sends_nothing(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    start = soon(30)
    appt = appointment(core, patient.id, doctor.id, start)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id, start))
    with core.repository.transaction() as conn:
        core.repository.delete(RequestContext.system(), conn, "Appointment", appt)
    inbox.messages.clear()
    make_due(core, "notifications.reminder")
    core.jobs.sweep()
    assert inbox.messages == []
    assert reminder_deliveries(core) == []


def test_an_opted_out_reminder_is_not_sent(core, inbox, people):
    patient, doctor = people.patient(), people.practitioner()
    prefer(patient, opted_out_events=["appointment.reminder"])
    start = soon(30)
    appt = appointment(core, patient.id, doctor.id, start)
    publish(core, "appointment.booked", booking(appt, patient.id, doctor.id, start))
    make_due(core, "notifications.reminder")
    core.jobs.sweep()
    assert [r.user_id for r in reminder_deliveries(core)] == [doctor.user_id] * 2  # 24h, 1h
