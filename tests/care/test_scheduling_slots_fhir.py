"""Slots the scheduler writes in bulk (``Repository.create_many``, one Slot validated per
rule) and the Slot versions a booking writes are plain FHIR resources: read, searched by
every Slot search parameter and listed in history exactly like Slots written over FHIR
REST. And every refusal of a claim made over FHIR REST writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from platform_core.fhir.instants import format_instant, now_utc
from plugins.scheduling.fhir import SERVICE_SYSTEM
from plugins.scheduling.schema import SlotRow
from tests.care.scheduling_support import book, free_slots, publish_rule

ABSENT = (
    "_profile",
    "_security",
    "_source",
    "_tag",
    "appointment-type",
    "identifier",
    "service-category",
    "specialty",
)
"""Slot search parameters that a generated Slot has no value for."""


@pytest.fixture(autouse=True)
def _short_horizon(app, monkeypatch):
    monkeypatch.setitem(app.extensions["fireside"].settings.extra, "scheduling_horizon_days", 2)


def _content(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


def _history(fhir: Any, slot_id: str) -> list[dict[str, Any]]:
    """The history entries of a Slot, oldest first, without what differs between any two
    resources (ids, instants, URLs)."""
    entries = fhir.get(f"Slot/{slot_id}/_history").get_json()["entry"]
    return [
        {
            "method": e["request"]["method"],
            "status": e["response"]["status"],
            "version": e["resource"]["meta"]["versionId"],
            "content": _content(e["resource"]),
        }
        for e in reversed(entries)
    ]


def _queries(slot: dict[str, Any]) -> list[tuple[str, bool]]:
    """A query per Slot search parameter (value and ``:missing``), and whether the Slot
    matches it."""
    start = slot["start"]
    coding = slot["serviceType"][0]["coding"][0]
    queries = [
        (f"schedule={slot['schedule']['reference']}", True),
        ("schedule:missing=true", False),
        (f"status={slot['status']}", True),
        ("status=entered-in-error", False),
        (f"start={start}", True),
        (f"start=ge{start}", True),
        (f"start=gt{start}", False),
        (f"service-type={SERVICE_SYSTEM}|{coding['code']}", True),
        (f"service-type={coding['code']}", True),
        ("service-type:text=general", True),
        ("service-type=other", False),
        (f"_lastUpdated=le{format_instant(now_utc() + timedelta(minutes=5))}", True),
    ]
    for code in ABSENT:
        queries += [(f"{code}:missing=true", True), (f"{code}:missing=false", False)]
    return queries


def test_a_generated_slot_is_indistinguishable_from_a_posted_one(people, fhir):
    doctor = people.practitioner()
    publish_rule(doctor)
    generated_id = free_slots(doctor, doctor.id)[0]["slot"]
    generated = fhir.get(f"Slot/{generated_id}").get_json()
    posted = fhir.create(_content(generated))

    read = fhir.get(f"Slot/{posted['id']}").get_json()
    assert _content(read) == _content(generated)
    assert set(read["meta"]) == set(generated["meta"]) == {"versionId", "lastUpdated"}
    assert read["meta"]["versionId"] == generated["meta"]["versionId"] == "1"

    both = f"_id={generated_id},{posted['id']}"
    for query, matches in _queries(generated):
        found = fhir.get(f"Slot?{both}&{query}&_count=10").get_json()
        ids = sorted(e["resource"]["id"] for e in found.get("entry", []))
        assert ids == (sorted([generated_id, posted["id"]]) if matches else []), query

    assert _history(fhir, generated_id) == _history(fhir, posted["id"])


def test_a_booked_slot_reads_searches_and_lists_its_history_like_a_put_one(people, fhir):
    doctor, patient = people.practitioner(), people.patient()
    publish_rule(doctor)
    generated_id = free_slots(doctor, doctor.id)[1]["slot"]
    posted = fhir.create(_content(fhir.get(f"Slot/{generated_id}").get_json()))
    assert book(patient, generated_id, patient.id).status_code == 201
    assert fhir.put(f"Slot/{posted['id']}", {**posted, "status": "busy"}).status_code == 200

    booked = fhir.get(f"Slot/{generated_id}").get_json()
    put = fhir.get(f"Slot/{posted['id']}").get_json()
    assert booked["status"] == "busy" and booked["meta"]["versionId"] == "2"
    assert _content(booked) == _content(put)
    both = f"_id={generated_id},{posted['id']}"
    for query, matches in [*_queries(booked), ("status=free", False)]:
        found = fhir.get(f"Slot?{both}&{query}&_count=10").get_json()
        ids = sorted(e["resource"]["id"] for e in found.get("entry", []))
        assert ids == (sorted([generated_id, posted["id"]]) if matches else []), query
    assert _history(fhir, generated_id) == _history(fhir, posted["id"])
    assert [h["content"]["status"] for h in _history(fhir, generated_id)] == ["free", "busy"]


def _appointment(patient: str, practitioner: str, slot: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{practitioner}"}, "status": "accepted"},
        ],
    }


def test_claims_over_fhir_refuse_unknown_foreign_past_and_taken_slots(people, db, counts):
    doctor, other = people.practitioner(), people.practitioner()
    publish_rule(doctor)
    patient, rival = people.patient(), people.patient()
    slots = [s["slot"] for s in free_slots(patient, doctor.id)[:3]]
    table = SlotRow.__table__
    with db.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.slot_id == slots[2])
            .values(start=now_utc() - timedelta(hours=1))
        )
    assert patient.fhir.post("Appointment", _appointment(patient.id, doctor.id, slots[0]))
    before = counts()
    for who, practitioner, slot, status, words in [
        (rival, doctor.id, "no-such-slot", 404, "not a bookable slot"),
        (rival, other.id, slots[1], 422, "another practitioner"),
        (rival, doctor.id, slots[2], 409, "in the past"),
        (rival, doctor.id, slots[0], 409, "already booked"),
    ]:
        resp = who.fhir.post("Appointment", _appointment(who.id, practitioner, slot))
        assert resp.status_code == status, resp.get_json()
        outcome = resp.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert words in outcome["issue"][0]["diagnostics"]
    assert counts() == before


def test_the_api_and_a_losing_claim_answer_a_taken_slot_alike(people):
    doctor = people.practitioner()
    publish_rule(doctor)
    winner, loser = people.patient(), people.patient()
    slot = free_slots(winner, doctor.id)[0]["slot"]
    assert book(winner, slot, winner.id).status_code == 201
    api = book(loser, slot, loser.id)
    fhir = loser.fhir.post("Appointment", _appointment(loser.id, doctor.id, slot))
    assert api.status_code == fhir.status_code == 409
    assert api.get_json()["issues"] == fhir.get_json()["issue"]


def test_an_appointment_naming_no_practitioner_claims_its_slot(people, db):
    doctor, patient = people.practitioner(), people.patient()
    publish_rule(doctor)
    slot = free_slots(patient, doctor.id)[0]["slot"]
    body = _appointment(patient.id, doctor.id, slot)
    body["participant"] = body["participant"][:1]  # the patient only
    resp = patient.fhir.post("Appointment", body)
    assert resp.status_code == 201, resp.get_json()
    table = SlotRow.__table__
    with db.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.slot_id == slot)).one()
    assert row.status == "busy"
    again = patient.fhir.post("Appointment", body)
    assert again.status_code == 409
