"""Races and holds: N clients over real HTTP racing for one slot (exactly one wins), a
booking waiting for payment, its confirmation and its expiry, and the rolling horizon."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from platform_core import hookimpl
from platform_core.fhir.instants import now_utc
from plugins.scheduling.generation import generate
from plugins.scheduling.schema import SlotRow
from tests.care.scheduling_support import book, free_slots, publish_rule

SLOTS = SlotRow.__table__


@pytest.fixture(autouse=True)
def _short_horizon(app, monkeypatch):
    monkeypatch.setitem(app.extensions["fireside"].settings.extra, "scheduling_horizon_days", 3)


def appointments_for_slot(db, slot_id: str) -> int:
    with db.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM fhir_resource WHERE resource_type = 'Appointment' "
                "AND content LIKE :slot"
            ),
            {"slot": f"%Slot/{slot_id}%"},
        ).scalar_one()


def test_exactly_one_of_many_racing_clients_wins(people, live_server, db):
    doctor = people.practitioner()
    publish_rule(doctor)
    racers = [people.patient() for _ in range(12)]
    slot = free_slots(racers[0], doctor.id)[5]["slot"]
    barrier = threading.Barrier(len(racers))
    answers: list[tuple[int, Any]] = []

    def race(who) -> None:
        barrier.wait()
        resp = requests.post(
            f"{live_server}/api/scheduling/bookings",
            json={"slot": slot, "patient": who.id},
            headers={"Authorization": f"Bearer {who.token}"},
            timeout=60,
        )
        answers.append((resp.status_code, resp))

    threads = [threading.Thread(target=race, args=(r,)) for r in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    statuses = sorted(code for code, _ in answers)
    assert statuses == [201] + [409] * (len(racers) - 1), statuses
    for code, resp in answers:
        if code == 409:
            assert resp.headers["Content-Type"].startswith("application/problem+json")
            assert "already booked" in resp.json()["detail"]
    assert appointments_for_slot(db, slot) == 1
    with db.connect() as conn:
        row = conn.execute(sa.select(SLOTS).where(SLOTS.c.slot_id == slot)).one()
    winner = next(r.json() for c, r in answers if c == 201)
    assert row.status == "busy" and row.appointment_id == winner["appointment"]


class PaymentPlugin:
    """A payments plugin that asks for payment within ``window`` seconds."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.asked: list[Any] = []

    @hookimpl
    def scheduling_payment_required(self, booking: Any) -> int | None:
        self.asked.append(booking)
        return self.window


@pytest.fixture
def payments(app):
    plugin = PaymentPlugin(600)
    pm = app.extensions["fireside"].plugins.pm
    pm.register(plugin, name="test-payments")
    try:
        yield plugin
    finally:
        pm.unregister(name="test-payments")


def test_a_booking_waits_for_payment_then_confirms(people, app, db, payments):
    doctor = people.practitioner()
    publish_rule(doctor)
    patient = people.patient()
    slot = free_slots(patient, doctor.id)[3]["slot"]
    resp = book(patient, slot, patient.id)
    assert resp.status_code == 201, resp.get_json()
    pending = resp.get_json()
    assert pending["status"] == "pending" and pending["payment_due_by"]
    [asked] = payments.asked
    assert asked.price_amount == 1500000 and asked.price_currency == "NGN"
    with db.connect() as conn:
        assert conn.execute(sa.select(SLOTS.c.status).where(SLOTS.c.slot_id == slot)).scalar() == (
            "held"
        )
    assert patient.fhir.get(f"Slot/{slot}").get_json()["status"] == "busy-tentative"
    other = people.patient()
    assert book(other, slot, other.id).status_code == 409  # held slots are taken too
    core = app.extensions["fireside"]
    with core.repository.transaction() as conn:
        core.jobs.publish(
            conn, "payment.confirmed", {"reference": f"Appointment/{pending['appointment']}"}
        )
    appointment = patient.fhir.get(f"Appointment/{pending['appointment']}").get_json()
    assert appointment["status"] == "booked"
    with db.connect() as conn:
        assert conn.execute(sa.select(SLOTS.c.status).where(SLOTS.c.slot_id == slot)).scalar() == (
            "busy"
        )


def test_an_unpaid_hold_is_released_when_its_window_passes(people, app, db, payments):
    doctor = people.practitioner()
    publish_rule(doctor)
    patient = people.patient()
    slot = free_slots(patient, doctor.id)[3]["slot"]
    pending = book(patient, slot, patient.id).get_json()
    core = app.extensions["fireside"]
    with core.repository.transaction() as conn:
        conn.execute(
            sa.update(SLOTS)
            .where(SLOTS.c.slot_id == slot)
            .values(hold_expires_at=now_utc() - timedelta(seconds=1))
        )
        core.jobs.enqueue(conn, "scheduling.expire_holds", {})
    appointment = patient.fhir.get(f"Appointment/{pending['appointment']}").get_json()
    assert appointment["status"] == "cancelled"
    assert appointment["cancelationReason"]["text"] == "The payment window expired"
    assert slot in {s["slot"] for s in free_slots(patient, doctor.id)}
    with core.repository.transaction() as conn:  # a late payment books nothing
        core.jobs.publish(
            conn, "payment.confirmed", {"reference": f"Appointment/{pending['appointment']}"}
        )
    assert patient.fhir.get(f"Appointment/{pending['appointment']}").get_json()["status"] == (
        "cancelled"
    )


def test_generation_is_idempotent_and_rolls_forward(people, app, db):
    doctor = people.practitioner()
    publish_rule(doctor)
    core = app.extensions["fireside"]
    with core.repository.transaction() as conn:
        again = generate(core, conn, doctor.id)
    assert again.created == 0 and again.removed == 0 and again.kept >= 70
    with core.repository.transaction() as conn:
        later = generate(core, conn, doctor.id, now=now_utc() + timedelta(days=1))
    assert 23 <= later.created <= 24 and later.removed == 0

    def total() -> int:
        with db.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(SLOTS.c.practitioner_id == doctor.id)
            ).scalar_one()

    assert total() == again.kept + later.created
    # The hourly roll (run for real now) brings the horizon back: the free slots beyond it go
    with core.repository.transaction() as conn:
        core.jobs.enqueue(conn, "scheduling.roll_horizon", {"period_start": "test"})
    assert total() == again.kept
