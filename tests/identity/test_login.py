"""The login page: CSRF, credentials, generic failures, redirects, lockout, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from platform_core.fhir.instants import now_utc
from platform_core.identity.login_views import GENERIC_FAILURE
from platform_core.identity.session import login_url
from tests.identity.conftest import PASSWORD, set_columns, user_row


def test_login_form_is_accessible_and_carries_a_csrf_token(browser):
    resp = browser.get("/auth/login?next=/oauth/authorize?client_id=x")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert '<html lang="en">' in html
    assert '<label for="email">' in html and 'id="email" name="email"' in html
    assert '<label for="password">' in html and 'id="password" name="password"' in html
    assert "<h1>Sign in</h1>" in html
    assert f'name="csrf_token" value="{browser.session()["csrf"]}"' in html
    assert 'name="next" value="/oauth/authorize?client_id=x"' in html
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"


def test_login_signs_in_and_goes_to_the_account_page(browser, make_user, audit):
    user = make_user(email="ada@example.org", fhir_user="Patient/7")
    resp = browser.login("ADA@example.org")
    assert resp.status_code == 303 and resp.headers["Location"] == "/auth/account"
    page = browser.get("/auth/account")
    assert page.status_code == 200 and "ada@example.org" in page.get_data(as_text=True)
    [record] = audit.of_kind("login")
    assert (record.action, record.outcome, record.subtype) == ("E", "0", "password")
    assert record.who == "Patient/7" and record.entity == "ada@example.org"
    assert record.remote_addr == "127.0.0.1"
    assert user_row(browser.app.extensions["fireside"].db, user.id).failed_logins == 0


def test_login_without_csrf_token_is_refused(browser, make_user, audit):
    make_user(email="ada@example.org")
    resp = browser.post(
        "/auth/login", {"email": "ada@example.org", "password": PASSWORD}, csrf=False
    )
    assert resp.status_code == 400
    assert 'role="alert"' in resp.get_data(as_text=True)
    assert audit.records == []
    assert browser.get("/auth/account").status_code == 303


def test_login_with_a_wrong_csrf_token_is_refused(browser, make_user):
    make_user(email="ada@example.org")
    browser.csrf()
    resp = browser.post(
        "/auth/login",
        {"email": "ada@example.org", "password": PASSWORD, "csrf_token": "forged"},
    )
    assert resp.status_code == 400


def test_unknown_email_and_wrong_password_answer_the_same(browser, make_user, audit):
    make_user(email="ada@example.org")
    unknown = browser.login("nobody@example.org")
    wrong = browser.login("ada@example.org", "wrong password here")
    for resp in (unknown, wrong):
        assert resp.status_code == 401
        html = resp.get_data(as_text=True)
        assert GENERIC_FAILURE in html and 'role="alert"' in html
    assert [r.outcome for r in audit.of_kind("login")] == ["4", "4"]
    assert all(r.who is None for r in audit.records)
    assert [r.entity for r in audit.records] == ["nobody@example.org", "ada@example.org"]


def test_missing_fields_are_named_and_nothing_is_counted(browser, make_user, counts):
    user = make_user(email="ada@example.org")
    before = counts()
    resp = browser.post("/auth/login", {"email": "ada@example.org", "password": ""})
    assert resp.status_code == 400
    assert 'href="#password"' in resp.get_data(as_text=True)
    assert counts() == before
    assert user_row(browser.app.extensions["fireside"].db, user.id).failed_logins == 0


@pytest.mark.parametrize(
    "next_path",
    ["/fhir/Patient?x=1", "/auth/account", "/oauth/authorize?response_type=code&state=a%2Fb"],
)
def test_next_is_followed_when_it_is_a_path_here(browser, make_user, next_path):
    make_user(email="ada@example.org")
    resp = browser.login("ada@example.org", next_path=next_path)
    assert resp.status_code == 303 and resp.headers["Location"] == next_path


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.com",
        "//evil.com/auth/account",
        "https://evil.com/",
        "http:/evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/auth/account\\@evil.com",
        "javascript:alert(1)",
        "evil.com",
        "/ /evil.com",
        "/\tevil",
        "/x\r\nSet-Cookie: a=b",
    ],
)
def test_next_elsewhere_is_ignored(browser, make_user, next_path):
    make_user(email="ada@example.org")
    page = browser.get("/auth/login", query_string={"next": next_path})
    assert 'name="next" value=""' in page.get_data(as_text=True)
    resp = browser.login("ada@example.org", next_path=next_path)
    assert resp.status_code == 303 and resp.headers["Location"] == "/auth/account"


def test_login_url_carries_next():
    assert (
        login_url("/oauth/authorize?a=1&b=2")
        == "/auth/login?next=%2Foauth%2Fauthorize%3Fa%3D1%26b%3D2"
    )


def test_login_url_in_a_request_uses_the_route(app):
    with app.test_request_context("/"):
        assert login_url("/x").startswith("/auth/login?next=")


def test_lockout_after_max_failures(browser, make_user, outbox, audit):
    settings = browser.app.extensions["fireside"].settings
    db = browser.app.extensions["fireside"].db
    user = make_user(email="ada@example.org")
    for _ in range(settings.login_max_failures):
        assert browser.login("ada@example.org", "wrong password!!").status_code == 401
    row = user_row(db, user.id)
    assert row.locked_until is not None and row.locked_until > now_utc()
    # Locked: even the right password fails, with the same message as a wrong one.
    resp = browser.login("ada@example.org")
    assert resp.status_code == 401 and GENERIC_FAILURE in resp.get_data(as_text=True)
    assert [r.description for r in audit.of_kind("login")][-1] == "locked"
    # The owner learns of the lock by mail.
    [mail] = outbox.to("ada@example.org")
    assert "paused" in mail["Subject"]
    # After the lock ends, the right password works again.
    set_columns(db, user.id, locked_until=now_utc() - timedelta(seconds=1))
    assert browser.login("ada@example.org").status_code == 303


def test_a_success_resets_the_failure_count(browser, make_user):
    db = browser.app.extensions["fireside"].db
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org", "wrong password!!")
    browser.login("ada@example.org", "wrong password!!")
    assert user_row(db, user.id).failed_logins == 2
    assert browser.login("ada@example.org").status_code == 303
    assert user_row(db, user.id).failed_logins == 0


def test_unknown_emails_are_never_locked_differently(browser):
    settings = browser.app.extensions["fireside"].settings
    answers = {
        browser.login("ghost@example.org", "x" * 12).status_code
        for _ in range(settings.login_max_failures + 1)
    }
    assert answers == {401}


def test_pending_account_is_told_to_confirm_its_email(browser, make_user, audit):
    make_user(email="new@example.org", status="pending", email_verified=False)
    resp = browser.login("new@example.org")
    assert resp.status_code == 403
    html = resp.get_data(as_text=True)
    assert "Confirm your email address" in html and 'id="resend-link"' in html
    assert audit.records[-1].outcome == "4"
    assert browser.get("/auth/account").status_code == 303


def test_wrong_password_on_a_pending_account_is_generic(browser, make_user):
    make_user(email="new@example.org", status="pending", email_verified=False)
    resp = browser.login("new@example.org", "wrong password!!")
    assert resp.status_code == 401 and GENERIC_FAILURE in resp.get_data(as_text=True)


def test_suspended_account_cannot_sign_in(browser, make_user):
    make_user(email="gone@example.org", status="suspended")
    resp = browser.login("gone@example.org")
    assert resp.status_code == 403 and "suspended" in resp.get_data(as_text=True)


def test_account_without_password_cannot_sign_in(browser, make_user):
    make_user(email="invited@example.org", password=None)
    assert browser.login("invited@example.org", "").status_code == 400
    assert browser.login("invited@example.org", "anything at all").status_code == 401


def test_logout_is_a_post_with_csrf(browser, make_user, audit):
    make_user(email="ada@example.org")
    browser.login("ada@example.org")
    assert browser.get("/auth/logout").status_code == 405
    assert browser.post("/auth/logout", csrf=False).status_code == 400
    assert browser.get("/auth/account").status_code == 200
    resp = browser.post("/auth/logout")
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/auth/login")
    assert browser.get("/auth/account").status_code == 303
    assert audit.of_kind("logout")[0].entity == "ada@example.org"
    assert "You are signed out." in browser.get(resp.headers["Location"]).get_data(as_text=True)


def test_login_is_audited_by_the_real_audit_log(app, make_user):
    """Without the in-memory stand-in: the record reaches the AuditLog's buffer."""
    from tests.identity.conftest import Browser

    make_user(email="ada@example.org")
    core = app.extensions["fireside"]
    assert Browser(app).login("ada@example.org").status_code == 303
    core.audit.flush()
    with core.db.connect() as conn:
        events = (
            conn.execute(
                sa.text("SELECT content FROM fhir_resource WHERE resource_type = 'AuditEvent'")
            )
            .scalars()
            .all()
        )
    assert any('"ada@example.org"' in e and '"110114"' in e for e in events)
