"""The admin JSON API at /auth/admin/users: bearer-token authorization, RFC 9457 errors."""

from __future__ import annotations

import re

import pytest

from platform_core.identity.users import get_user, patients_of, set_password
from tests.identity.conftest import PASSWORD

PROBLEM = "application/problem+json"


@pytest.fixture
def api(app, audit, outbox):
    client = app.test_client()
    tokens = app.extensions["fireside"].auth.tokens

    class Api:
        def bearer(self, user) -> dict[str, str]:
            raw, _ = tokens.issue(
                client_id="admin-console",
                scope="openid",
                user_id=user.id,
                generation=user.token_generation,
            )
            return {"Authorization": f"Bearer {raw}"}

        def get(self, path, user=None, headers=None):
            return client.get(path, headers=headers or (self.bearer(user) if user else {}))

        def post(self, path, user=None, body=None, headers=None):
            hdrs = headers or (self.bearer(user) if user else {})
            if body is None:
                return client.post(path, headers=hdrs)
            return client.post(path, json=body, headers=hdrs)

    return Api()


@pytest.fixture
def admin(make_user):
    return make_user(email="admin@example.org", role="admin")


def _problem(resp, status, name):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["status"] == status and body["type"] == f"urn:fireside:problem:{name}"
    assert re.fullmatch(r"FS-0[068]\d\d", body["code"]) and body["title"] and body["detail"]
    return body


def test_no_token_is_401(api):
    resp = api.get("/auth/admin/users")
    _problem(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_is_401(api):
    resp = api.get("/auth/admin/users", headers={"Authorization": "Bearer nonsense"})
    _problem(resp, 401, "invalid_token")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_a_non_admin_is_403(api, make_user):
    for role in ("patient", "guardian", "practitioner", "pharmacist"):
        _problem(api.get("/auth/admin/users", make_user(role=role)), 403, "forbidden")


def test_a_token_from_before_a_password_change_is_401(api, db, admin):
    headers = api.bearer(admin)
    set_password(db, admin.id, "a new admin passphrase")
    _problem(api.get("/auth/admin/users", headers=headers), 401, "invalid_token")


def test_a_backend_token_without_user_is_401(api, app):
    raw, _ = app.extensions["fireside"].auth.tokens.issue(client_id="svc", scope="system/*.rs")
    resp = api.get("/auth/admin/users", headers={"Authorization": f"Bearer {raw}"})
    _problem(resp, 401, "invalid_token")


def test_list_users(api, admin, make_user):
    make_user(email="b@example.org", role="practitioner")
    resp = api.get("/auth/admin/users?role=practitioner", admin)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    [user] = resp.get_json()["users"]
    assert user["email"] == "b@example.org" and user["verifiedAt"] is None
    assert "password_hash" not in user and "totp_secret" not in user
    assert len(api.get("/auth/admin/users", admin).get_json()["users"]) == 2


@pytest.mark.parametrize(
    ("query", "code"),
    [("role=boss", "unknown_role"), ("status=gone", "invalid_status"), ("limit=-1", "bad_request")],
)
def test_list_bad_filters(api, admin, query, code):
    _problem(api.get(f"/auth/admin/users?{query}", admin), 400, code)


def test_create_user_with_password(api, admin, db):
    body = {
        "email": "Doc@Example.org",
        "role": "practitioner",
        "password": PASSWORD,
        "fhirUser": "Practitioner/7",
    }
    resp = api.post("/auth/admin/users", admin, body)
    assert resp.status_code == 201
    created = resp.get_json()
    assert created["email"] == "doc@example.org" and created["status"] == "active"
    assert resp.headers["Location"].endswith(f"/auth/admin/users/{created['id']}")
    assert api.get(resp.headers["Location"], admin).get_json()["fhirUser"] == "Practitioner/7"


def test_create_user_without_password_sends_an_invitation(api, admin, outbox, browser):
    resp = api.post("/auth/admin/users", admin, {"email": "p@example.org", "role": "pharmacist"})
    assert resp.status_code == 201
    token = outbox.last_link("p@example.org", "reset")
    done = browser.post(
        f"/auth/reset/{token}", {"password": PASSWORD, "password_confirm": PASSWORD}
    )
    assert done.status_code == 200
    assert browser.login("p@example.org").status_code == 303


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "x@example.org", "role": "boss"}, 400, "unknown_role"),
        ({"email": "x@example.org", "role": "patient", "password": "short"}, 400, "weak_password"),
        ({"email": "nope", "role": "patient"}, 400, "invalid_email"),
        ({"role": "patient"}, 400, "bad_request"),
        ({"email": 5, "role": "patient"}, 400, "bad_request"),
        ({"email": "admin@example.org", "role": "patient"}, 409, "duplicate_email"),
        ({"email": "x@example.org", "role": "admin"}, 403, "forbidden"),
        ({"email": "x@example.org", "role": "super_admin"}, 403, "forbidden"),
        ([1, 2], 400, "bad_request"),
    ],
)
def test_create_refusals_write_nothing(api, admin, counts, outbox, body, status, code):
    before = counts()
    _problem(api.post("/auth/admin/users", admin, body), status, code)
    assert counts() == before and outbox.messages() == []


def test_create_needs_json(api, admin, counts):
    before = counts()
    headers = {**api.bearer(admin), "Content-Type": "text/plain"}
    resp = api.post("/auth/admin/users", headers=headers)
    _problem(resp, 415, "unsupported_media_type")
    assert counts() == before


def test_super_admin_may_create_admins(api, make_user):
    boss = make_user(role="super_admin")
    resp = api.post("/auth/admin/users", boss, {"email": "a2@example.org", "role": "admin"})
    assert resp.status_code == 201


def test_suspend_and_reactivate(api, admin, db, make_user):
    user = make_user(email="p@example.org")
    headers_of_user = api.bearer(user)
    resp = api.post(f"/auth/admin/users/{user.id}/suspend", admin)
    assert resp.status_code == 200 and resp.get_json()["status"] == "suspended"
    assert get_user(db, user.id).token_generation == user.token_generation + 1
    # The suspended user's own tokens stop working here too.
    _problem(api.get("/auth/admin/users", headers=headers_of_user), 401, "invalid_token")
    resp = api.post(f"/auth/admin/users/{user.id}/activate", admin)
    assert resp.get_json()["status"] == "active"


def test_suspend_rules(api, admin, db, make_user, counts):
    other_admin = make_user(role="admin")
    before = counts()
    _problem(api.post(f"/auth/admin/users/{admin.id}/suspend", admin), 409, "not_allowed")
    _problem(api.post(f"/auth/admin/users/{other_admin.id}/suspend", admin), 403, "forbidden")
    _problem(api.post("/auth/admin/users/nobody/suspend", admin), 404, "unknown_user")
    assert counts() == before
    assert get_user(db, other_admin.id).status == "active"


def test_verify_practitioner(api, admin, make_user):
    doc = make_user(role="practitioner")
    resp = api.post(f"/auth/admin/users/{doc.id}/verify", admin)
    assert resp.status_code == 200 and resp.get_json()["verifiedAt"]
    _problem(api.post(f"/auth/admin/users/{make_user().id}/verify", admin), 409, "not_allowed")


def test_link_patient(api, admin, db, make_user):
    parent = make_user(role="guardian")
    resp = api.post(
        f"/auth/admin/users/{parent.id}/patients",
        admin,
        {
            "patient": "Patient/child-1",
            "relationship": "guardian",
            "relatedPerson": "RelatedPerson/3",
        },
    )
    assert resp.status_code == 200
    assert resp.get_json()["patients"] == [
        {"patient": "Patient/child-1", "relationship": "guardian"}
    ]
    assert patients_of(db, parent.id) == [("child-1", "guardian")]


def test_link_patient_refusals_write_nothing(api, admin, make_user, counts):
    user = make_user()
    api.bearer(admin)  # the first token of a run makes the signing key: not this test's write
    before = counts()
    url = f"/auth/admin/users/{user.id}/patients"
    _problem(
        api.post(url, admin, {"patient": "1", "relationship": "uncle"}), 400, "invalid_relationship"
    )
    _problem(
        api.post(url, admin, {"patient": "a b", "relationship": "self"}), 400, "invalid_patient_id"
    )
    _problem(api.post(url, admin, {"relationship": "self"}), 400, "bad_request")
    assert counts() == before


def test_unknown_user_is_404(api, admin):
    _problem(api.get("/auth/admin/users/nobody", admin), 404, "unknown_user")


def test_wrong_method_is_a_problem(api, admin):
    resp = api.post("/auth/admin/users/x", admin, {})
    _problem(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_unknown_admin_url_is_a_problem(api, admin):
    _problem(api.get("/auth/admin/nothing/here", admin), 404, "not_found")


def test_the_catch_all_still_needs_a_token(api):
    _problem(api.get("/auth/admin/nothing"), 401, "unauthorized")
