"""The practitioners plugin with other plugins beside it: the events it publishes (seen by a
subscribed test job), the ``practitioner_ratings`` hook it declares, its settings, and the
licence race between two concurrent sign-ups.

Tests that need a plugin of their own build a second app on the suite's database with
``create_app(config, plugins=[...])``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core import hookimpl
from platform_core.identity.care import is_verified_practitioner
from platform_core.identity.users import create_user, get_user
from platform_core.jobs.definitions import JobContext, JobDefinition
from platform_core.jobs.schema import job_table
from platform_core.plugin_api import RejectWrite
from plugins.practitioners.schema import application_table
from tests.care.conftest import ApiClient, problem
from tests.care.test_practitioners import (
    DOCTOR_SCOPE,
    Doctor,
    applied,
    profile_body,
    sign_up,
)
from tests.conftest import issue_token

EVENTS = frozenset({"practitioner.verified", "practitioner.rejected", "practitioner.suspended"})
RECORD_JOB = "test_practitioners.record"


def admin_of(app: Flask) -> tuple[str, ApiClient]:
    """An admin account on ``app``: its id and API client."""
    user = create_user(
        app.extensions["fireside"].db, email="admin@example.org", password=None, role="admin"
    )
    return user.id, ApiClient(app.test_client(), issue_token(app, DOCTOR_SCOPE, user_id=user.id))


# --- events ------------------------------------------------------------------------------


class EventRecorder:
    """Subscribes a job to the practitioner events; remembers what it was handed."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @hookimpl
    def register_jobs(self) -> list[JobDefinition]:
        return [JobDefinition(RECORD_JOB, self.record, events=EVENTS)]

    def record(self, ctx: JobContext) -> None:
        self.seen.append(dict(ctx.payload))


def outbox_payloads(app: Flask) -> list[dict[str, Any]]:
    with app.extensions["fireside"].db.connect() as conn:
        rows = conn.execute(
            sa.select(job_table.c.payload, job_table.c.state)
            .where(job_table.c.name == RECORD_JOB)
            .order_by(job_table.c.id)
        ).all()
    assert {r.state for r in rows} <= {"done"}
    return [json.loads(r.payload) for r in rows]


def test_decisions_publish_their_events_with_the_catalog_payloads(make_app, counts):
    recorder = EventRecorder()
    app2 = make_app(recorder)
    _, admin = admin_of(app2)
    good, bad = applied(app2), applied(app2)

    admin.post(f"practitioners/applications/{good.practitioner}/verify")
    admin.post(f"practitioners/applications/{bad.practitioner}/reject", {"reason": "Unreadable"})
    admin.post(f"practitioners/applications/{good.practitioner}/suspend", {"reason": "Complaint"})
    admin.post(f"practitioners/applications/{good.practitioner}/reinstate")  # no event

    expected = [
        {
            "event": "practitioner.verified",
            "practitioner": good.practitioner,
            "user_id": good.user_id,
        },
        {
            "event": "practitioner.rejected",
            "practitioner": bad.practitioner,
            "user_id": bad.user_id,
            "reason": "Unreadable",
        },
        {
            "event": "practitioner.suspended",
            "practitioner": good.practitioner,
            "user_id": good.user_id,
            "reason": "Complaint",
        },
    ]
    assert outbox_payloads(app2) == expected
    assert recorder.seen == expected

    # A refused decision publishes nothing.
    before = counts()
    problem(admin.post(f"practitioners/applications/{bad.practitioner}/verify"), 409)
    assert counts() == before
    assert len(recorder.seen) == 3


def test_a_verified_event_finds_the_account_verified(make_app):
    """The account is verified before the event's jobs run, so a subscriber asking
    ``is_verified_practitioner`` gets yes."""
    from platform_core.identity.care import is_verified_practitioner

    answers: list[bool] = []

    class Asker:
        @hookimpl
        def register_jobs(self) -> list[JobDefinition]:
            return [JobDefinition("test_practitioners.ask", self.ask, events=EVENTS)]

        def ask(self, ctx: JobContext) -> None:
            answers.append(is_verified_practitioner(ctx.conn, ctx.payload["practitioner"]))

    app2 = make_app(Asker())
    _, admin = admin_of(app2)
    doctor = applied(app2)
    admin.post(f"practitioners/applications/{doctor.practitioner}/verify")
    assert answers == [True]


# --- one transaction ---------------------------------------------------------------------


class FailRoleWrites:
    """Refuses every PractitionerRole write while armed: the decisions change the account
    first and the role after it, so this fails them after the account change."""

    def __init__(self) -> None:
        self.armed = False

    @hookimpl
    def fhir_resource_before_write(self, write: Any) -> None:
        if self.armed and write.resource_type == "PractitionerRole":
            raise RejectWrite("the role store is down")


def _account(app: Flask, user_id: str) -> Any:
    return get_user(app.extensions["fireside"].db, user_id)


def test_a_decision_failing_after_the_account_change_writes_neither(app, people, counts):
    """The account change and the application commit together: when a later step of the
    decision fails, neither is written (and no event is published)."""
    admin = people.admin()
    doctor = applied(app)
    pid = doctor.practitioner
    base = f"practitioners/applications/{pid}"
    failing = FailRoleWrites()
    pm = app.extensions["fireside"].plugins.pm
    pm.register(failing, name="test-fail-role-writes")
    try:
        failing.armed = True
        before = counts()
        assert admin.api.post(f"{base}/verify").status_code == 422
        assert counts() == before
        assert _account(app, doctor.user_id).verified_at is None
        assert admin.api.get(base).get_json()["status"] == "pending"
        with app.extensions["fireside"].db.connect() as conn:
            assert not is_verified_practitioner(conn, pid)

        failing.armed = False
        assert admin.api.post(f"{base}/verify").status_code == 200
        assert _account(app, doctor.user_id).verified_at is not None
        generation = _account(app, doctor.user_id).token_generation

        failing.armed = True
        before = counts()
        assert admin.api.post(f"{base}/suspend", {"reason": "Complaint"}).status_code == 422
        assert counts() == before
        account = _account(app, doctor.user_id)
        assert (account.status, account.token_generation) == ("active", generation)
        assert admin.api.get(base).get_json()["status"] == "verified"
        assert doctor.api.get("practitioners/me").status_code == 200  # the token still works

        failing.armed = False
        assert admin.api.post(f"{base}/suspend", {"reason": "Complaint"}).status_code == 200
        assert _account(app, doctor.user_id).status == "suspended"

        failing.armed = True
        before = counts()
        assert admin.api.post(f"{base}/reinstate").status_code == 422
        assert counts() == before
        assert _account(app, doctor.user_id).status == "suspended"
        assert admin.api.get(base).get_json()["status"] == "suspended"
    finally:
        pm.unregister(name="test-fail-role-writes")
    assert admin.api.post(f"{base}/reinstate").status_code == 200
    assert _account(app, doctor.user_id).status == "active"


def test_a_suspended_doctors_token_is_refused_on_the_very_next_request_in_every_app(
    app, people, make_app
):
    """No cache in any process lets a suspended doctor's token through, not even for a
    second: the account is read on every verification."""
    admin = people.admin()
    doctor = applied(app)
    assert (
        admin.api.post(f"practitioners/applications/{doctor.practitioner}/verify").status_code
        == 200
    )
    app2 = make_app()
    here, there = doctor.api, ApiClient(app2.test_client(), doctor.token)
    assert [c.get("practitioners/me").status_code for c in (here, there)] == [200, 200]

    suspended = admin.api.post(
        f"practitioners/applications/{doctor.practitioner}/suspend", {"reason": "Complaint"}
    )
    assert suspended.status_code == 200
    assert [c.get("practitioners/me").status_code for c in (here, there)] == [401, 401]
    fhir_path = f"/fhir/Practitioner/{doctor.practitioner}"
    headers = {"Authorization": f"Bearer {doctor.token}"}
    assert app2.test_client().get(fhir_path, headers=headers).status_code == 401

    # Reinstated: tokens from before the suspension stay dead, new ones work at once.
    admin.api.post(f"practitioners/applications/{doctor.practitioner}/reinstate")
    assert here.get("practitioners/me").status_code == 401
    account = _account(app, doctor.user_id)
    fresh = issue_token(
        app, DOCTOR_SCOPE, user_id=doctor.user_id, generation=account.token_generation
    )
    assert ApiClient(app2.test_client(), fresh).get("practitioners/me").status_code == 200


# --- the ratings hook ----------------------------------------------------------------------


class Ratings:
    """A plugin rating practitioners as told."""

    def __init__(self, answer: Callable[[list[str]], dict[str, Any]]) -> None:
        self.answer = answer
        self.asked: list[list[str]] = []

    @hookimpl(optionalhook=True)
    def practitioner_ratings(self, core: Any, practitioner_ids: list[str]) -> dict[str, Any]:
        assert core.plugins is not None  # the asking app's core: read through core.db
        self.asked.append(list(practitioner_ids))
        return self.answer(practitioner_ids)


def _verified_on(app2: Flask, admin: ApiClient, family: str) -> Doctor:
    doctor = applied(app2, name={"prefix": ["Dr"], "given": ["Ada"], "family": family})
    assert admin.post(f"practitioners/applications/{doctor.practitioner}/verify").status_code == 200
    return doctor


def test_hook_practitioner_ratings_are_merged_into_the_directory(make_app):
    ids: dict[str, str] = {}
    one = Ratings(lambda asked: {ids["a"]: {"average": 4.0, "count": 1}})
    other = Ratings(
        lambda asked: {
            ids["a"]: {"average": 5.0, "count": 3},
            ids["b"]: {"average": 3.0, "count": 2},
            ids["c"]: {"average": 0.0, "count": 0},  # no ratings: ignored
            "not-on-this-page": {"average": 5.0, "count": 9},
        }
    )
    app2 = make_app(one, other)
    _, admin = admin_of(app2)
    a, b, c = (_verified_on(app2, admin, f) for f in ("Abara", "Bassey", "Chukwu"))
    ids.update(a=a.practitioner, b=b.practitioner, c=c.practitioner)

    page = admin.get("practitioners/directory").get_json()["practitioners"]
    ratings = {e["practitioner"]: e["rating"] for e in page}
    assert ratings == {
        a.practitioner: {"average": 4.75, "count": 4},
        b.practitioner: {"average": 3.0, "count": 2},
        c.practitioner: None,
    }
    assert one.asked[-1] == [a.practitioner, b.practitioner, c.practitioner]
    entry = admin.get(f"practitioners/directory/{a.practitioner}").get_json()
    assert entry["rating"] == {"average": 4.75, "count": 4}
    assert one.asked[-1] == [a.practitioner]


def test_hook_practitioner_ratings_failing_leaves_the_directory_unrated(make_app):
    def broken(asked: list[str]) -> dict[str, Any]:
        raise RuntimeError("the ratings store is down")

    app2 = make_app(Ratings(broken))
    _, admin = admin_of(app2)
    doctor = _verified_on(app2, admin, "Okafor")
    resp = admin.get("practitioners/directory")
    assert resp.status_code == 200
    assert [(e["practitioner"], e["rating"]) for e in resp.get_json()["practitioners"]] == [
        (doctor.practitioner, None)
    ]


def test_hook_practitioner_ratings_registered_on_a_running_app(app, people):
    """A plugin registered on the running app's manager is asked too (and forgotten after)."""
    admin = people.admin()
    doctor = applied(app)
    admin.api.post(f"practitioners/applications/{doctor.practitioner}/verify")
    pm = app.extensions["fireside"].plugins.pm
    plugin = Ratings(lambda asked: {pid: {"average": 4.5, "count": 2} for pid in asked})
    pm.register(plugin, name="test-ratings")
    try:
        entry = admin.api.get(f"practitioners/directory/{doctor.practitioner}").get_json()
        assert entry["rating"] == {"average": 4.5, "count": 2}
    finally:
        pm.unregister(name="test-ratings")
    entry = admin.api.get(f"practitioners/directory/{doctor.practitioner}").get_json()
    assert entry["rating"] is None


# --- settings ------------------------------------------------------------------------------


def test_the_document_size_limit_is_a_setting(make_app, counts):
    app2 = make_app(practitioners_document_max_bytes=2_000)
    doctor = applied(app2)
    exactly = b"%PDF-1.4\n" + b"0" * (2_000 - 9)
    assert doctor.upload(exactly, "fits.pdf").status_code == 201
    before = counts()
    answer = problem(doctor.upload(exactly + b"0", "too-big.pdf"), 413)
    assert answer["max_bytes"] == 2_000
    assert counts() == before


# --- the licence race ----------------------------------------------------------------------


def _race(app: Flask, gate: threading.Barrier) -> tuple[list[int], list[Doctor], dict[str, Any]]:
    """Two accounts send profiles with the same licence at the same moment."""
    doctors = [sign_up(app), sign_up(app)]
    body = profile_body()
    statuses: list[int] = []
    lock = threading.Lock()

    def send(doctor: Doctor) -> None:
        client = ApiClient(app.test_client(), doctor.token)
        gate.wait(timeout=20)
        status = client.post("practitioners/profile", body).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=(d,)) for d in doctors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses, doctors, body


def _holders(app: Flask, body: dict[str, Any]) -> int:
    with app.extensions["fireside"].db.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(application_table)
            .where(application_table.c.licence_number == body["licence"]["number"])
        ).scalar_one()


def test_two_sign_ups_with_one_licence_one_wins(app):
    statuses, _, body = _race(app, threading.Barrier(2))
    assert sorted(statuses) == [201, 409]
    assert _holders(app, body) == 1


class HoldPractitionerCreates:
    """Holds each Practitioner create until both sign-ups are inside their transactions,
    past the friendly licence check: only the unique constraint can tell them apart."""

    def __init__(self) -> None:
        self.inside = threading.Barrier(2, timeout=20)

    @hookimpl
    def fhir_resource_before_write(self, write: Any) -> None:
        if write.resource_type == "Practitioner" and write.interaction == "create":
            self.inside.wait()


def test_two_sign_ups_inside_their_transactions_at_once_one_wins(app):
    """PostgreSQL only: SQLite's writers queue (``BEGIN IMMEDIATE``), so two transactions
    are never open together there."""
    if app.extensions["fireside"].db.dialect.name != "postgresql":
        pytest.skip("needs two concurrent write transactions (PostgreSQL)")
    pm = app.extensions["fireside"].plugins.pm
    pm.register(HoldPractitionerCreates(), name="test-hold-creates")
    try:
        statuses, doctors, body = _race(app, threading.Barrier(2))
    finally:
        pm.unregister(name="test-hold-creates")
    assert sorted(statuses) == [201, 409]
    assert _holders(app, body) == 1
    linked = [
        d
        for d in doctors
        if ApiClient(app.test_client(), d.token).get("practitioners/me").status_code == 200
    ]
    assert len(linked) == 1


def test_the_api_is_in_the_openapi_document(app):
    paths = app.test_client().get("/api/openapi.json").get_json()["paths"]
    for path in (
        "/api/practitioners/profile",
        "/api/practitioners/me/documents",
        "/api/practitioners/applications/{practitioner_id}/verify",
        "/api/practitioners/directory",
    ):
        assert path in paths, path
    assert "409" in paths["/api/practitioners/profile"]["post"]["responses"]
