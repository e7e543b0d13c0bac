"""Publishing availability and booking through ``/api/scheduling`` and FHIR REST: the happy
paths, every refusal (with nothing written), and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from platform_core.fhir.instants import format_instant, now_utc
from plugins.scheduling.schema import SlotRow
from tests.care.conftest import problem
from tests.care.scheduling_support import ALL_DAY, EventSpy, book, free_slots, publish_rule


@pytest.fixture(autouse=True)
def _one_week_horizon(app, monkeypatch):
    """A week of slots is plenty here and keeps each rule's generation quick."""
    monkeypatch.setitem(app.extensions["fireside"].settings.extra, "scheduling_horizon_days", 7)


@pytest.fixture
def events(app, monkeypatch) -> EventSpy:
    return EventSpy(app.extensions["fireside"].jobs, monkeypatch)


@pytest.fixture
def doctor(people):
    doc = people.practitioner()
    publish_rule(doc)
    return doc


def slot_status(db, slot_id: str) -> str:
    with db.connect() as conn:
        table = SlotRow.__table__
        return conn.execute(sa.select(table.c.status).where(table.c.slot_id == slot_id)).scalar()


def later_slot(person, doctor, days: int = 3) -> dict:
    start = format_instant(now_utc() + timedelta(days=days))
    return free_slots(person, doctor.id, **{"from": start})[0]


# --- availability -------------------------------------------------------------------------
def test_a_rule_generates_slots_searchable_over_fhir(people, fhir):
    doc = people.practitioner()
    rule = publish_rule(doc, slot_minutes=30, buffer_minutes=30)
    assert 7 * 24 - 1 <= rule["slots_created"] <= 7 * 24
    patient = people.patient()
    slots = free_slots(patient, doc.id, limit=5)
    assert len(slots) == 5 and slots[0]["price"] == {"amount": 1500000, "currency": "NGN"}
    start = format_instant(now_utc())
    found = patient.fhir.get(
        f"Slot?schedule.actor=Practitioner/{doc.id}&start=ge{start}&status=free&_count=3"
    )
    assert found.status_code == 200, found.get_json()
    bundle = found.get_json()
    assert len(bundle["entry"]) == 3
    assert bundle["entry"][0]["resource"]["schedule"]["reference"] == f"Schedule/{rule['schedule']}"
    schedule = fhir.get(f"Schedule/{rule['schedule']}").get_json()
    assert schedule["actor"][0]["reference"] == f"Practitioner/{doc.id}"


def test_an_admin_publishes_for_a_practitioner_and_rules_are_listed(people):
    doc, admin = people.practitioner(), people.admin()
    resp = admin.api.post("scheduling/rules", {**ALL_DAY, "practitioner": doc.id})
    assert resp.status_code == 201, resp.get_json()
    listed = doc.api.get("scheduling/rules").get_json()["rules"]
    assert [r["id"] for r in listed] == [resp.get_json()["id"]]


def test_overlapping_rules_are_refused(people, counts):
    doc = people.practitioner()
    publish_rule(doc, start="09:00", end="12:00", days=["mon"])
    before = counts()
    body = problem(
        doc.api.post(
            "scheduling/rules",
            {**ALL_DAY, "days": ["mon"], "start": "11:00", "end": "13:00"},
        ),
        409,
    )
    assert "overlaps" in body["detail"] and body["rule"]
    assert counts() == before
    assert (
        doc.api.post(
            "scheduling/rules", {**ALL_DAY, "days": ["mon"], "start": "12:00", "end": "13:00"}
        ).status_code
        == 201
    )


def test_unverified_practitioners_cannot_publish_by_any_route(people, counts):
    doc = people.practitioner(verified=False)
    before = counts()
    assert "verified" in problem(doc.api.post("scheduling/rules", ALL_DAY), 403)["detail"]
    resp = doc.fhir.post(
        "Schedule",
        {"resourceType": "Schedule", "actor": [{"reference": f"Practitioner/{doc.id}"}]},
    )
    assert resp.status_code == 403 and "verified" in str(resp.get_json())
    assert counts() == before


def test_who_may_publish(people, anonymous_api, counts):
    doc, other, patient = people.practitioner(), people.practitioner(), people.patient()
    before = counts()
    assert anonymous_api.post("scheduling/rules", ALL_DAY).status_code == 401
    problem(patient.api.post("scheduling/rules", {**ALL_DAY, "practitioner": doc.id}), 403)
    problem(other.api.post("scheduling/rules", {**ALL_DAY, "practitioner": doc.id}), 403)
    assert counts() == before
    rule = publish_rule(doc)
    problem(other.api.delete(f"scheduling/rules/{rule['id']}"), 403)
    problem(other.api.put(f"scheduling/rules/{rule['id']}", ALL_DAY), 403)


@pytest.mark.parametrize(
    "body",
    [
        {**ALL_DAY, "time_zone": "Nowhere/Land"},
        {**ALL_DAY, "days": ["funday"]},
        {**ALL_DAY, "slot_minutes": 0},
        {**ALL_DAY, "price": {"amount": 10.5, "currency": "NGN"}},
        {**ALL_DAY, "end": "00:00"},
    ],
)
def test_bad_rules_change_nothing(people, counts, body):
    doc = people.practitioner()
    before = counts()
    assert problem(doc.api.post("scheduling/rules", body), 400)["field"]
    assert counts() == before


def test_not_json_is_a_clear_400(people, counts):
    doc = people.practitioner()
    before = counts()
    resp = doc.api.post("scheduling/rules", data="days=mon", headers={"Content-Type": "text/plain"})
    assert "JSON object" in problem(resp, 400)["detail"]
    assert counts() == before


def test_withdrawing_a_rule_keeps_booked_slots(people, doctor, db):
    patient = people.patient()
    slot = later_slot(patient, doctor)
    assert book(patient, slot["slot"], patient.id).status_code == 201
    [rule] = doctor.api.get("scheduling/rules").get_json()["rules"]
    resp = doctor.api.delete(f"scheduling/rules/{rule['id']}")
    assert resp.status_code == 200 and resp.get_json()["slots_removed"] > 150
    assert free_slots(patient, doctor.id) == []
    assert slot_status(db, slot["slot"]) == "busy"
    assert patient.fhir.get(f"Slot/{slot['slot']}").get_json()["status"] == "busy"


def test_changing_hours_regenerates_free_slots_only(people, doctor, db):
    patient = people.patient()
    slot = later_slot(patient, doctor)
    book(patient, slot["slot"], patient.id)
    [rule] = doctor.api.get("scheduling/rules").get_json()["rules"]
    changed = doctor.api.put(
        f"scheduling/rules/{rule['id']}", {**ALL_DAY, "start": "10:00", "end": "11:00"}
    )
    assert changed.status_code == 200, changed.get_json()
    remaining = free_slots(patient, doctor.id, limit=500)
    assert {s["start"][11:16] for s in remaining} == {"10:00"}
    assert slot_status(db, slot["slot"]) == "busy"


def test_leave_removes_free_slots_and_comes_back_when_withdrawn(people, doctor):
    patient = people.patient()
    start = now_utc() + timedelta(days=2)
    end = start + timedelta(days=1)
    resp = doctor.api.post(
        "scheduling/leave",
        {"start": format_instant(start), "end": format_instant(end), "reason": "Conference"},
    )
    assert resp.status_code == 201 and resp.get_json()["slots_removed"] >= 23
    during = free_slots(
        patient, doctor.id, **{"from": format_instant(start), "to": format_instant(end)}
    )
    assert during == []
    back = doctor.api.delete(f"scheduling/leave/{resp.get_json()['id']}")
    assert back.status_code == 200 and back.get_json()["slots_created"] >= 23


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2026-12-01", "end": "2026-12-02T00:00:00Z", "reason": "x"}, "start"),
        ({"start": "2026-12-01T10:00:00", "end": "2026-12-02T00:00:00Z", "reason": "x"}, "start"),
        ({"start": "2026-12-02T00:00:00Z", "end": "2026-12-01T00:00:00Z", "reason": "x"}, "end"),
        ({"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z", "reason": ""}, "reason"),
    ],
)
def test_bad_leave_changes_nothing(people, doctor, counts, body, field):
    before = counts()
    assert problem(doctor.api.post("scheduling/leave", body), 400)["field"] == field
    assert counts() == before


# --- booking ------------------------------------------------------------------------------
def test_a_patient_books_and_the_slot_becomes_busy(people, doctor, db, events):
    patient = people.patient()
    slot = later_slot(patient, doctor)
    resp = book(patient, slot["slot"], patient.id, reason="Cough for a week")
    assert resp.status_code == 201, resp.get_json()
    booked = resp.get_json()
    assert booked["status"] == "booked" and booked["start"] == slot["start"]
    assert resp.headers["Location"] == f"/fhir/Appointment/{booked['appointment']}"
    assert slot_status(db, slot["slot"]) == "busy"
    assert slot["slot"] not in {s["slot"] for s in free_slots(patient, doctor.id, limit=500)}
    appointment = patient.fhir.get(f"Appointment/{booked['appointment']}").get_json()
    assert appointment["status"] == "booked"
    assert {p["actor"]["reference"] for p in appointment["participant"]} == {
        f"Patient/{patient.id}",
        f"Practitioner/{doctor.id}",
    }
    payload = events.last("appointment.booked")
    assert payload["appointment"] == booked["appointment"] and payload["patient"] == patient.id
    assert payload["price"] == {"amount": 1500000, "currency": "NGN"}
    assert payload["service"] == "general-consult" and payload["mode"] == "in-person"


def test_a_guardian_books_for_their_child_but_not_for_another(people, doctor, counts):
    parent, stranger = people.guardian(), people.guardian()
    slot = later_slot(parent, doctor)
    before = counts()
    problem(book(stranger, slot["slot"], parent.children[0]), 403)
    assert counts() == before
    resp = book(parent, slot["slot"], parent.children[0])
    assert resp.status_code == 201
    mine = parent.api.get(
        "scheduling/bookings", query_string={"patient": parent.children[0]}
    ).get_json()
    assert [b["appointment"] for b in mine["bookings"]] == [resp.get_json()["appointment"]]
    problem(stranger.api.get(f"scheduling/bookings/{resp.get_json()['appointment']}"), 404)
    problem(
        stranger.api.get("scheduling/bookings", query_string={"patient": parent.children[0]}),
        404,
    )


def test_a_busy_slot_answers_409_and_writes_nothing(people, doctor, counts):
    first, second = people.patient(), people.patient()
    slot = later_slot(first, doctor)
    assert book(first, slot["slot"], first.id).status_code == 201
    before = counts()
    body = problem(book(second, slot["slot"], second.id), 409)
    assert "already booked" in body["detail"]
    assert body["issues"][0]["code"] and body["issues"][0]["severity"] == "error"
    assert counts() == before


def test_unknown_and_foreign_slots(people, doctor, counts):
    patient = people.patient()
    other = people.practitioner()
    publish_rule(other)
    before = counts()
    problem(book(patient, "no-such-slot", patient.id), 404)
    assert counts() == before
    booked = book(patient, later_slot(patient, doctor)["slot"], patient.id).get_json()
    foreign = later_slot(patient, other)
    before = counts()
    resp = patient.api.post(
        f"scheduling/bookings/{booked['appointment']}/reschedule", {"slot": foreign["slot"]}
    )
    problem(resp, 404)
    assert counts() == before


def test_a_past_slot_cannot_be_booked(people, doctor, db, counts):
    patient = people.patient()
    slot = later_slot(patient, doctor)
    table = SlotRow.__table__
    with db.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.slot_id == slot["slot"])
            .values(start=now_utc() - timedelta(hours=1))
        )
    before = counts()
    assert "past" in problem(book(patient, slot["slot"], patient.id), 409)["detail"]
    assert counts() == before


def test_bad_booking_bodies(people, doctor, counts, anonymous_api):
    patient = people.patient()
    slot = later_slot(patient, doctor)["slot"]
    before = counts()
    assert anonymous_api.post("scheduling/bookings", {"slot": slot}).status_code == 401
    problem(book(patient, slot, patient.id, mode="phone"), 400)
    problem(book(patient, "", patient.id), 400)
    problem(book(patient, slot, "x" * 65), 400)
    problem(book(patient, slot, patient.id, reason=5), 400)
    problem(book(patient, slot, "unknown-patient"), 403)
    assert counts() == before


def test_a_video_consultation_gets_its_own_unguessable_room(people, doctor):
    patient = people.patient()
    first, second = free_slots(patient, doctor.id, limit=2)
    a = book(patient, first["slot"], patient.id, mode="video").get_json()
    b = book(patient, second["slot"], patient.id, mode="video").get_json()
    assert a["video_room"].startswith("https://meet.fireside.health/r/")
    assert a["video_room"] != b["video_room"] and len(a["video_room"].rsplit("/", 1)[1]) >= 32
    appointment = patient.fhir.get(f"Appointment/{a['appointment']}").get_json()
    assert {e["url"].rsplit("/", 1)[1] for e in appointment["extension"]} == {
        "consultation-mode",
        "video-room",
    }


def test_a_slot_offered_in_person_only_refuses_video(people, counts):
    doc = people.practitioner()
    publish_rule(doc, modes=["in-person"])
    patient = people.patient()
    slot = free_slots(patient, doc.id)[0]
    before = counts()
    assert (
        "in-person" in problem(book(patient, slot["slot"], patient.id, mode="video"), 422)["detail"]
    )
    assert counts() == before


# --- cancelling, rescheduling, completing --------------------------------------------------
def test_cancelling_frees_the_slot(people, doctor, db, events):
    patient = people.patient()
    slot = later_slot(patient, doctor)
    booked = book(patient, slot["slot"], patient.id).get_json()
    resp = patient.api.post(
        f"scheduling/bookings/{booked['appointment']}/cancel", {"reason": "Feeling better"}
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "cancelled"
    assert slot_status(db, slot["slot"]) == "free"
    assert patient.fhir.get(f"Slot/{slot['slot']}").get_json()["status"] == "free"
    assert events.last("appointment.cancelled")["reason"] == "Feeling better"
    again = people.patient()
    assert book(again, slot["slot"], again.id).status_code == 201


def test_patients_cannot_cancel_inside_the_window_but_the_practice_can(people, doctor, counts):
    patient = people.patient()
    soon = free_slots(patient, doctor.id)[0]  # within the next hour
    booked = book(patient, soon["slot"], patient.id).get_json()
    before = counts()
    body = problem(
        patient.api.post(f"scheduling/bookings/{booked['appointment']}/cancel", {"reason": "x"}),
        409,
    )
    assert "120 minutes" in body["detail"]
    assert counts() == before
    resp = doctor.api.post(
        f"scheduling/bookings/{booked['appointment']}/cancel", {"reason": "Doctor unwell"}
    )
    assert resp.status_code == 200


def test_rescheduling_moves_the_claim(people, doctor, db, events):
    patient = people.patient()
    first = later_slot(patient, doctor, days=3)
    second = later_slot(patient, doctor, days=4)
    booked = book(patient, first["slot"], patient.id).get_json()
    resp = patient.api.post(
        f"scheduling/bookings/{booked['appointment']}/reschedule", {"slot": second["slot"]}
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["start"] == second["start"]
    assert slot_status(db, first["slot"]) == "free"
    assert slot_status(db, second["slot"]) == "busy"
    assert events.last("appointment.rescheduled")["previous_start"] == first["start"]


def test_rescheduling_onto_a_taken_slot_changes_nothing(people, doctor, db, counts):
    patient, other = people.patient(), people.patient()
    first, second = later_slot(patient, doctor, 3), later_slot(patient, doctor, 4)
    booked = book(patient, first["slot"], patient.id).get_json()
    book(other, second["slot"], other.id)
    before = counts()
    problem(
        patient.api.post(
            f"scheduling/bookings/{booked['appointment']}/reschedule", {"slot": second["slot"]}
        ),
        409,
    )
    assert counts() == before and slot_status(db, first["slot"]) == "busy"


def test_the_practitioner_records_the_visit(people, doctor, events, counts):
    patient = people.patient()
    booked = book(patient, later_slot(patient, doctor)["slot"], patient.id).get_json()
    url = f"scheduling/bookings/{booked['appointment']}/status"
    stranger = people.practitioner()
    before = counts()
    problem(patient.api.post(url, {"status": "fulfilled"}), 403)
    problem(stranger.api.post(url, {"status": "fulfilled"}), 404)
    problem(doctor.api.post(url, {"status": "booked"}), 400)
    assert counts() == before
    assert doctor.api.post(url, {"status": "arrived"}).get_json()["status"] == "arrived"
    assert doctor.api.post(url, {"status": "fulfilled"}).get_json()["status"] == "fulfilled"
    payload = events.last("appointment.fulfilled")
    assert payload["practitioner"] == doctor.id and payload["price"]["amount"] == 1500000
    body = problem(doctor.api.post(url, {"status": "noshow"}), 409)
    assert "fulfilled cannot become noshow" in body["detail"]


# --- FHIR REST ------------------------------------------------------------------------------
def test_booking_over_fhir_claims_the_slot_and_races_answer_409(people, doctor, db, counts):
    patient, other = people.patient(), people.patient()
    slot = later_slot(patient, doctor)

    def appointment(who):
        return {
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot['slot']}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{who.id}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{doctor.id}"}, "status": "accepted"},
            ],
        }

    resp = patient.fhir.post("Appointment", appointment(patient))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["start"] == slot["start"]  # filled from the slot
    assert slot_status(db, slot["slot"]) == "busy"
    before = counts()
    taken = other.fhir.post("Appointment", appointment(other))
    assert taken.status_code == 409
    assert taken.get_json()["resourceType"] == "OperationOutcome"
    assert counts() == before
    cancelled = patient.fhir.get(f"Appointment/{resp.get_json()['id']}").get_json()
    cancelled["status"] = "cancelled"
    assert patient.fhir.put(f"Appointment/{cancelled['id']}", cancelled).status_code == 200
    assert slot_status(db, slot["slot"]) == "free"


def test_patients_cannot_mark_their_own_visit_fulfilled_over_fhir(people, doctor, counts):
    patient = people.patient()
    booked = book(patient, later_slot(patient, doctor)["slot"], patient.id).get_json()
    body = patient.fhir.get(f"Appointment/{booked['appointment']}").get_json()
    body["status"] = "fulfilled"
    before = counts()
    resp = patient.fhir.put(f"Appointment/{body['id']}", body)
    assert resp.status_code == 403
    assert counts() == before
