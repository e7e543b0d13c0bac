"""``/api/notifications``: preferences, push devices and the delivery log, through HTTP with
real tokens."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from platform_core.fhir.instants import now_utc
from plugins.notifications.catalog import EVENTS
from plugins.notifications.schema import delivery_table, device_table, preference_table
from tests.care.conftest import problem

DEFAULTS = {
    "language": "en",
    "time_zone": "UTC",
    "phone": None,
    "email_enabled": True,
    "sms_enabled": True,
    "push_enabled": True,
    "opted_out_events": [],
    "updated_at": None,
    "devices": [],
}


def visible(prefs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prefs.items() if k != "catalog"}


# --- preferences ------------------------------------------------------------------------------


def test_a_new_user_has_the_default_preferences(people):
    patient = people.patient()
    resp = patient.api.get("notifications/preferences")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "private, no-store"
    body = resp.get_json()
    assert visible(body) == DEFAULTS
    assert body["catalog"] == {
        "events": list(EVENTS),
        "always_by_email": [
            "practitioner.rejected",
            "practitioner.suspended",
            "practitioner.verified",
        ],
        "languages": ["en", "fr"],
        "platforms": ["android", "ios", "web"],
    }


def test_preferences_are_saved_and_read_back(people, db):
    guardian = people.guardian()
    change = {
        "language": "fr",
        "time_zone": "Africa/Lagos",
        "phone": "+2348012345678",
        "sms_enabled": False,
        "opted_out_events": ["invoice.issued", "appointment.reminder", "invoice.issued"],
    }
    resp = guardian.api.put("notifications/preferences", change)
    assert resp.status_code == 200, resp.get_json()
    saved = resp.get_json()
    assert saved["updated_at"] is not None
    assert visible(saved) == {
        **DEFAULTS,
        **change,
        "opted_out_events": ["appointment.reminder", "invoice.issued"],
        "updated_at": saved["updated_at"],
    }
    assert guardian.api.get("notifications/preferences").get_json() == saved
    with db.connect() as conn:
        row = conn.execute(sa.select(preference_table)).one()
    assert (row.user_id, row.language, row.phone) == (guardian.user_id, "fr", "+2348012345678")


def test_a_change_keeps_the_fields_it_does_not_name_and_null_resets(people):
    patient = people.patient()
    patient.api.put(
        "notifications/preferences",
        {"language": "fr", "time_zone": "Europe/Paris", "phone": "+33612345678"},
    )
    resp = patient.api.put("notifications/preferences", {"push_enabled": False})
    body = resp.get_json()
    assert (body["language"], body["time_zone"], body["phone"], body["push_enabled"]) == (
        "fr",
        "Europe/Paris",
        "+33612345678",
        False,
    )
    resp = patient.api.put(
        "notifications/preferences", {"language": None, "time_zone": None, "phone": None}
    )
    body = resp.get_json()
    assert (body["language"], body["time_zone"], body["phone"], body["push_enabled"]) == (
        "en",
        "UTC",
        None,
        False,
    )


def test_preferences_are_each_users_own(people):
    first, second = people.patient(), people.patient(given="Bola")
    first.api.put("notifications/preferences", {"language": "fr"})
    assert second.api.get("notifications/preferences").get_json()["language"] == "en"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "de"}, "language"),
        ({"language": 3}, "language"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "UTC+1"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"phone": "08012345678"}, "phone"),
        ({"phone": "+0123456789"}, "phone"),
        ({"phone": "+234 801 234 5678"}, "phone"),
        ({"phone": "+12345"}, "phone"),
        ({"phone": "+1234567890123456"}, "phone"),
        ({"email_enabled": "yes"}, "email_enabled"),
        ({"sms_enabled": None}, "sms_enabled"),
        ({"push_enabled": 1}, "push_enabled"),
        (
            {"opted_out_events": ["appointment.booked", "appointment.teleported"]},
            "opted_out_events",
        ),
        ({"opted_out_events": "appointment.booked"}, "opted_out_events"),
        ({"opted_out_events": [1]}, "opted_out_events"),
        ({"language": "fr", "favourite_colour": "blue"}, "favourite_colour"),
        (["language", "fr"], "body"),
    ],
)
def test_bad_preferences_are_refused_naming_the_field(people, counts, body, field):
    patient = people.patient()
    patient.api.put("notifications/preferences", {"language": "fr"})
    before = counts()
    resp = patient.api.put("notifications/preferences", body)
    answer = problem(resp, 400)
    assert answer["detail"].startswith(f"{field}: ")
    assert field in answer["errors"]["json"]
    assert counts() == before
    assert patient.api.get("notifications/preferences").get_json()["language"] == "fr"


def test_a_body_that_is_not_json_is_refused(people, counts):
    patient = people.patient()
    before = counts()
    resp = patient.api.put(
        "notifications/preferences", data="language=fr", headers={"Content-Type": "text/plain"}
    )
    assert problem(resp, 400)["detail"].startswith("body: ")
    assert counts() == before


# --- devices ------------------------------------------------------------------------------------


def test_a_device_is_registered_listed_and_removed(people, db):
    patient = people.patient()
    resp = patient.api.post(
        "notifications/devices", {"token": "fcm:APA91b-xyz_1", "platform": "android"}
    )
    assert resp.status_code == 201
    assert resp.get_json()["token"] == "fcm:APA91b-xyz_1"
    assert resp.get_json()["platform"] == "android"
    [device] = patient.api.get("notifications/preferences").get_json()["devices"]
    assert (device["token"], device["platform"]) == ("fcm:APA91b-xyz_1", "android")

    resp = patient.api.delete("notifications/devices/fcm:APA91b-xyz_1")
    assert resp.status_code == 204
    assert patient.api.get("notifications/preferences").get_json()["devices"] == []
    problem(patient.api.delete("notifications/devices/fcm:APA91b-xyz_1"), 404)


def test_registering_a_token_again_moves_it_to_the_new_user(people, db):
    first, second = people.patient(), people.guardian()
    first.api.post("notifications/devices", {"token": "shared-tablet", "platform": "ios"})
    resp = second.api.post("notifications/devices", {"token": "shared-tablet", "platform": "web"})
    assert resp.status_code == 201
    assert first.api.get("notifications/preferences").get_json()["devices"] == []
    [device] = second.api.get("notifications/preferences").get_json()["devices"]
    assert device["platform"] == "web"
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(device_table)).scalar() == 1


def test_nobody_removes_another_users_device(people, counts):
    owner, other = people.patient(), people.patient(given="Bola")
    owner.api.post("notifications/devices", {"token": "owner-phone", "platform": "android"})
    before = counts()
    problem(other.api.delete("notifications/devices/owner-phone"), 404)
    assert counts() == before
    assert len(owner.api.get("notifications/preferences").get_json()["devices"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "android"}, "token"),
        ({"token": "", "platform": "android"}, "token"),
        ({"token": "has space", "platform": "android"}, "token"),
        ({"token": "x" * 513, "platform": "android"}, "token"),
        ({"token": 42, "platform": "android"}, "token"),
        ({"token": "t"}, "platform"),
        ({"token": "t", "platform": "blackberry"}, "platform"),
        ({"token": "t", "platform": "ios", "owner": "me"}, "owner"),
        ("t", "body"),
    ],
)
def test_bad_devices_are_refused_naming_the_field(people, counts, body, field):
    patient = people.patient()
    before = counts()
    answer = problem(patient.api.post("notifications/devices", body), 400)
    assert answer["detail"].startswith(f"{field}: ")
    assert counts() == before


# --- the delivery log -----------------------------------------------------------------------


def add_delivery(db: Any, user_id: str, n: int, status: str = "sent", **extra: Any) -> None:
    now = now_utc()
    values = {
        "key": f"test:{user_id}:{n}",
        "user_id": user_id,
        "event": "appointment.booked",
        "resource": f"Appointment/a{n}",
        "channel": "email",
        "destination": f"{user_id}@example.org",
        "language": "en",
        "title": f"Subject {n}",
        "body": f"Body {n}",
        "status": status,
        "attempts": 1,
        "error": "MailError: down" if status == "failed" else None,
        "provider": "smtp" if status == "sent" else None,
        "created_at": now,
        "sent_at": now if status == "sent" else None,
        "updated_at": now,
        **extra,
    }
    with db.begin() as conn:
        conn.execute(sa.insert(delivery_table).values(**values))


@pytest.fixture
def log(people, db):
    patient, other, admin = people.patient(), people.patient(given="Bola"), people.admin()
    add_delivery(db, patient.user_id, 1)
    add_delivery(db, patient.user_id, 2, "failed")
    add_delivery(db, patient.user_id, 3, "queued")
    add_delivery(db, other.user_id, 4)
    add_delivery(db, admin.user_id, 5)
    return patient, other, admin


def test_users_see_their_own_deliveries_newest_first(log):
    patient, _, _ = log
    resp = patient.api.get("notifications/deliveries")
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 50, 0)
    assert [d["resource"] for d in body["deliveries"]] == [
        "Appointment/a3",
        "Appointment/a2",
        "Appointment/a1",
    ]
    failed = body["deliveries"][1]
    assert failed == {
        "id": failed["id"],
        "user_id": patient.user_id,
        "event": "appointment.booked",
        "resource": "Appointment/a2",
        "channel": "email",
        "status": "failed",
        "attempts": 1,
        "error": "MailError: down",
        "provider": None,
        "created_at": failed["created_at"],
        "sent_at": None,
        "to": f"{patient.user_id}@example.org",
        "title": "Subject 2",
        "body": "Body 2",
    }


def test_the_log_filters_by_status_and_pages(log):
    patient, _, _ = log
    body = patient.api.get("notifications/deliveries?status=failed").get_json()
    assert [d["status"] for d in body["deliveries"]] == ["failed"]
    body = patient.api.get("notifications/deliveries?limit=1&offset=1").get_json()
    assert [d["resource"] for d in body["deliveries"]] == ["Appointment/a2"]
    assert body["total"] == 3


def test_a_user_may_not_read_another_users_deliveries(log, counts):
    patient, other, _ = log
    answer = problem(patient.api.get(f"notifications/deliveries?user={other.user_id}"), 403)
    assert "admins" in answer["detail"]
    own = patient.api.get(f"notifications/deliveries?user={patient.user_id}").get_json()
    assert own["total"] == 3


def test_admins_see_everyones_deliveries_without_their_text(log):
    patient, other, admin = log
    body = admin.api.get("notifications/deliveries").get_json()
    assert body["total"] == 5
    by_user = {d["resource"]: d for d in body["deliveries"]}
    assert "body" not in by_user["Appointment/a4"] and "to" not in by_user["Appointment/a4"]
    assert by_user["Appointment/a4"]["user_id"] == other.user_id
    assert by_user["Appointment/a5"]["body"] == "Body 5"  # the admin's own message
    narrowed = admin.api.get(f"notifications/deliveries?user={patient.user_id}&status=sent")
    assert [d["resource"] for d in narrowed.get_json()["deliveries"]] == ["Appointment/a1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
    ],
)
def test_bad_log_queries_are_refused(log, query, field):
    patient, _, _ = log
    answer = problem(patient.api.get(f"notifications/deliveries?{query}"), 400)
    assert field in answer["errors"]["query"]


# --- who may call ------------------------------------------------------------------------------

ROUTES = [
    ("get", "notifications/preferences", None),
    ("put", "notifications/preferences", {"language": "fr"}),
    ("post", "notifications/devices", {"token": "t", "platform": "web"}),
    ("delete", "notifications/devices/t", None),
    ("get", "notifications/deliveries", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_a_valid_token(anonymous_api, counts, method, path, body):
    before = counts()
    call = getattr(anonymous_api, method)
    problem(call(path, body) if body is not None else call(path), 401)
    anonymous_api.token = "not-a-token"
    problem(call(path, body) if body is not None else call(path), 401)
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_a_backend_service_token_has_no_notifications(people, counts, method, path, body):
    system = people.system()
    before = counts()
    call = getattr(system, method)
    answer = problem(call(path, body) if body is not None else call(path), 403)
    assert "user" in answer["detail"]
    assert counts() == before
