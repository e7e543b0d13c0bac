"""The admin metrics API: every number, UTC day edges, deletes, who may ask, bad ranges."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core.fhir.instants import now_utc
from platform_core.identity.users import create_user, set_status
from plugins.care_metrics.queries import DayRange, appointments_by_day
from tests.care.conftest import USER_SCOPE, ApiClient, People, problem
from tests.conftest import FhirClient, issue_token

DECEMBER = "care_metrics?from=2026-12-01&to=2026-12-31"


def appointment(patient: str, practitioner: str, start: str, status: str = "booked") -> dict:
    """An Appointment shaped as scheduling writes it (docs/care_workflows.md)."""
    return {
        "resourceType": "Appointment",
        "status": status,
        "serviceType": [
            {
                "coding": [
                    {
                        "system": "https://fireside.health/fhir/CodeSystem/service",
                        "code": "general-consultation",
                        "display": "General consultation",
                    }
                ]
            }
        ],
        "start": start,
        "end": start,  # the tests only look at start
        "participant": [
            {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{practitioner}"}, "status": "accepted"},
        ],
    }


def medication_request(patient: str, practitioner: str, authored_on: str) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "Amoxicillin 250 mg"},
        "subject": {"reference": f"Patient/{patient}"},
        "requester": {"reference": f"Practitioner/{practitioner}"},
        "authoredOn": authored_on,
    }


def _account(app: Flask, role: str, **kw: Any) -> Any:
    return create_user(
        app.extensions["fireside"].db,
        email=f"{role}-{uuid.uuid4().hex[:12]}@example.org",
        password=None,
        role=role,
        **kw,
    )


def _api(app: Flask, scope: str, **claims: Any) -> ApiClient:
    return ApiClient(app.test_client(), issue_token(app, scope, **claims))


# --- the numbers --------------------------------------------------------------------------------


def test_every_number(app: Flask, people: People, fhir: FhirClient) -> None:
    db = app.extensions["fireside"].db
    patient = people.patient()  # 1 Patient
    guardian = people.guardian()  # 2 Patients (parent and child)
    doctor = people.practitioner(verified=True)
    people.practitioner(verified=True)
    people.practitioner(verified=False)
    people.practitioner(verified=False)
    suspended = people.practitioner(verified=True)
    set_status(db, suspended.user_id, "suspended")
    _account(app, "practitioner")  # signed up, no Practitioner yet: not waiting for review
    _account(app, "practitioner", fhir_user="Practitioner/x1", status="pending")  # email unverified
    gone = fhir.create({"resourceType": "Patient", "name": [{"family": "Gone"}]})
    assert fhir.delete(f"Patient/{gone['id']}").status_code in (200, 204)

    p, c, d = patient.id, guardian.children[0], doctor.id
    for start, status in [
        ("2026-12-01T00:00:00+00:00", "booked"),  # the first instant of the range
        ("2026-12-01T09:00:00+00:00", "booked"),
        ("2026-12-02T00:30:00+01:00", "fulfilled"),  # 2026-12-01 23:30 UTC
        ("2026-12-15T10:00:00Z", "cancelled"),
        ("2026-12-15T11:00:00+00:00", "booked"),
        ("2026-12-31T23:59:59+00:00", "noshow"),  # the last second of the range
        ("2026-12-31T23:59:59.999+00:00", "booked"),
        ("2027-01-01T00:00:00+00:00", "booked"),  # the day after: left out
        ("2027-01-01T00:30:00+01:00", "arrived"),  # 2026-12-31 23:30 UTC
        ("2026-12-01T00:30:00+01:00", "booked"),  # 2026-11-30 23:30 UTC: left out
        ("2026-11-30T23:59:59Z", "booked"),  # left out
    ]:
        fhir.create(appointment(p, d, start, status))
    deleted = fhir.create(appointment(c, d, "2026-12-10T10:00:00+00:00"))
    assert fhir.delete(f"Appointment/{deleted['id']}").status_code in (200, 204)
    moved = fhir.create(appointment(c, d, "2026-12-20T10:00:00+00:00"))
    assert (
        fhir.put(
            f"Appointment/{moved['id']}",
            {**appointment(c, d, "2026-12-21T10:00:00+00:00", "cancelled"), "id": moved["id"]},
        ).status_code
        == 200
    )

    for authored in [
        "2026-12-01",
        "2026-12-15T08:00:00+00:00",
        "2026-12-31T23:59:59+00:00",
        "2027-01-01T00:30:00+01:00",  # 2026-12-31 23:30 UTC
        "2027-01-01",  # left out
        "2026-12-01T00:30:00+01:00",  # 2026-11-30 UTC: left out
    ]:
        fhir.create(medication_request(p, d, authored))
    withdrawn = fhir.create(medication_request(c, d, "2026-12-05"))
    assert fhir.delete(f"MedicationRequest/{withdrawn['id']}").status_code in (200, 204)

    resp = people.admin().api.get(DECEMBER)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {
        "from": "2026-12-01",
        "to": "2026-12-31",
        "patients": 3,
        "practitioners": {"pending_verification": 2, "verified": 2, "suspended": 1},
        "appointments": {
            "by_status": {"arrived": 1, "booked": 4, "cancelled": 2, "fulfilled": 1, "noshow": 1},
            "by_day": [
                {"day": "2026-12-01", "by_status": {"booked": 2, "fulfilled": 1}},
                {"day": "2026-12-15", "by_status": {"booked": 1, "cancelled": 1}},
                {"day": "2026-12-21", "by_status": {"cancelled": 1}},
                {"day": "2026-12-31", "by_status": {"arrived": 1, "booked": 1, "noshow": 1}},
            ],
        },
        "prescriptions_issued": 4,
    }

    one_day = people.admin().api.get("care_metrics?from=2026-12-31&to=2026-12-31").get_json()
    assert one_day["appointments"]["by_status"] == {"arrived": 1, "booked": 1, "noshow": 1}
    assert one_day["prescriptions_issued"] == 2
    january = people.admin().api.get("care_metrics?from=2027-01-01&to=2027-01-01").get_json()
    assert january["appointments"]["by_status"] == {"booked": 1}
    assert january["prescriptions_issued"] == 1


def test_an_empty_platform(people: People) -> None:
    admin = people.admin()
    assert admin.api.get(DECEMBER).get_json() == {
        "from": "2026-12-01",
        "to": "2026-12-31",
        "patients": 0,
        "practitioners": {"pending_verification": 0, "verified": 0, "suspended": 0},
        "appointments": {"by_status": {}, "by_day": []},
        "prescriptions_issued": 0,
    }


def test_the_default_range_is_the_last_30_days(people: People, fhir: FhirClient) -> None:
    patient, doctor = people.patient(), people.practitioner()
    now = now_utc()
    fhir.create(appointment(patient.id, doctor.id, now.isoformat()))
    fhir.create(appointment(patient.id, doctor.id, (now - timedelta(days=29)).isoformat()))
    fhir.create(appointment(patient.id, doctor.id, (now - timedelta(days=31)).isoformat()))
    body = people.admin().api.get("care_metrics").get_json()
    today = now.date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert body["appointments"]["by_status"] == {"booked": 2}
    only_to = people.admin().api.get("care_metrics?to=2026-12-31").get_json()
    assert (only_to["from"], only_to["to"]) == ("2026-12-02", "2026-12-31")


def test_days_are_utc_whatever_the_database_session_zone(app: Flask, people: People) -> None:
    """On PostgreSQL a timestamptz cast to a date follows the session's time zone; the
    grouping must not."""
    fhir = FhirClient(app.test_client(), issue_token(app))
    patient, doctor = people.patient(), people.practitioner()
    fhir.create(appointment(patient.id, doctor.id, "2026-12-02T00:30:00+01:00"))
    fhir.create(appointment(patient.id, doctor.id, "2026-12-01T12:30:00+00:00"))
    engine = app.extensions["fireside"].db
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14
        days = appointments_by_day(conn, DayRange(date(2026, 12, 1), date(2026, 12, 2)))
        conn.rollback()
    assert days == {"2026-12-01": {"booked": 2}}


# --- who may ask -------------------------------------------------------------------------------


def test_without_a_token_401(anonymous_api: ApiClient) -> None:
    problem(anonymous_api.get(DECEMBER), 401)
    problem(ApiClient(anonymous_api.client, "not-a-token").get(DECEMBER), 401)


@pytest.mark.parametrize("role", ["patient", "guardian", "practitioner", "pharmacist"])
def test_other_roles_403(app: Flask, role: str) -> None:
    user = _account(app, role)
    assert (
        "administrators"
        in problem(_api(app, USER_SCOPE, user_id=user.id).get(DECEMBER), 403)["detail"]
    )


def test_people_of_the_care_fixtures_403(people: People) -> None:
    for person in (people.patient(), people.guardian(), people.practitioner()):
        problem(person.api.get(DECEMBER), 403)


@pytest.mark.parametrize("role", ["admin", "super_admin"])
def test_administrators_may_ask(app: Flask, role: str) -> None:
    user = _account(app, role)
    assert _api(app, "openid fhirUser", user_id=user.id).get(DECEMBER).status_code == 200


@pytest.mark.parametrize("scope", ["system/*.cruds", "system/Patient.r"])
def test_backend_services_with_a_system_scope_may_ask(people: People, scope: str) -> None:
    assert people.system(scope).get(DECEMBER).status_code == 200


def test_a_backend_service_without_a_system_scope_403(app: Flask) -> None:
    problem(_api(app, "openid").get(DECEMBER), 403)


def test_the_caller_is_checked_before_the_range(app: Flask, anonymous_api: ApiClient) -> None:
    problem(anonymous_api.get("care_metrics?from=nonsense"), 401)
    user = _account(app, "patient")
    problem(_api(app, USER_SCOPE, user_id=user.id).get("care_metrics?from=nonsense"), 403)


# --- bad ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("from=2026-13-01&to=2026-12-31", "from"),
        ("from=2026-02-30&to=2026-03-31", "from"),
        ("from=2026-12-01&to=yesterday", "to"),
        ("from=2026-12-1&to=2026-12-31", "from"),
        ("from=&to=2026-12-31", "from"),
        ("from=2026-12-01T00:00:00Z&to=2026-12-31", "from"),
        ("from=2026-12-31&to=2026-12-01", "from"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("from=2000-01-01", "to"),  # to defaults to today: more than 366 days
    ],
)
def test_a_bad_range_400(people: People, query: str, parameter: str) -> None:
    body = problem(people.admin().api.get(f"care_metrics?{query}"), 400)
    assert body["detail"].startswith(f"{parameter}: "), body
    assert list(body["errors"]["query"]) == [parameter]


@pytest.mark.parametrize(
    "query", ["from=2024-01-01&to=2024-12-31", "from=2025-01-01&to=2026-01-01"]
)
def test_366_days_is_the_longest_range(people: People, query: str) -> None:
    assert people.admin().api.get(f"care_metrics?{query}").status_code == 200
