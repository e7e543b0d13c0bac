"""Browser sessions and CSRF: who ``current_user()`` is, and when a session dies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core.fhir.instants import now_utc
from platform_core.identity import csrf
from platform_core.identity.schema import SessionRow
from platform_core.identity.session import (
    current_user,
    log_in,
    log_out,
    session_id_hash,
    session_is_active,
)
from platform_core.identity.users import set_password, set_status
from tests.identity.conftest import Browser


def whoami(browser: Browser) -> str:
    """The signed-in user's email as the account page shows it, or ``anonymous``."""
    resp = browser.get("/auth/account")
    if resp.status_code != 200:
        return "anonymous"
    return re.search(r'id="account-email">([^<]+)<', resp.get_data(as_text=True)).group(1)


def test_anonymous_by_default(browser):
    assert whoami(browser) == "anonymous"


def test_login_makes_the_user_current(browser, make_user):
    make_user(email="ada@example.org")
    browser.login("ada@example.org")
    assert whoami(browser) == "ada@example.org"


def test_password_change_elsewhere_ends_the_session(browser, db, make_user):
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org")
    set_password(db, user.id, "a different passphrase")
    assert whoami(browser) == "anonymous"


def test_suspension_ends_the_session(browser, db, make_user):
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org")
    set_status(db, user.id, "suspended")
    assert whoami(browser) == "anonymous"
    set_status(db, user.id, "active")
    assert whoami(browser) == "anonymous"  # the generation moved on


def test_a_copied_cookie_dies_with_logout(app, browser, make_user):
    make_user(email="ada@example.org")
    browser.login("ada@example.org")
    cookie = browser.client.get_cookie("session")
    thief = Browser(app)
    thief.client.set_cookie("session", cookie.value)
    assert whoami(thief) == "ada@example.org"
    browser.post("/auth/logout")
    assert whoami(thief) == "anonymous"


def test_sessions_expire(browser, db, make_user):
    make_user(email="ada@example.org")
    browser.login("ada@example.org")
    with db.begin() as conn:
        conn.execute(
            sa.update(SessionRow.__table__).values(expires_at=now_utc() - timedelta(seconds=1))
        )
    assert whoami(browser) == "anonymous"


def test_a_forged_session_cookie_is_ignored(app, make_user):
    user = make_user(email="ada@example.org")
    from flask.sessions import SecureCookieSessionInterface

    other = Flask("forger")
    other.secret_key = "not the server's key"
    forged = (
        SecureCookieSessionInterface()
        .get_signing_serializer(other)
        .dumps({"uid": user.id, "gen": 0, "sid": "x"})
    )
    browser = Browser(app)
    browser.client.set_cookie("session", forged)
    assert whoami(browser) == "anonymous"


def test_log_in_and_out_in_code(app, make_user, db):
    user = make_user(email="ada@example.org")
    with app.test_request_context("/"):
        from flask import session

        session["oauth_request"] = "kept"
        log_in(user)
        assert current_user() == user
        sid = session_id_hash()
        assert sid is not None and session_is_active(db, sid)
        assert session["oauth_request"] == "kept"
        log_out()
        assert current_user() is None and not session_is_active(db, sid)
        assert "oauth_request" not in session


def test_login_rotates_the_csrf_token(browser, make_user):
    make_user(email="ada@example.org")
    before = browser.csrf()
    browser.login("ada@example.org")
    assert browser.session()["csrf"] != before


def test_csrf_token_is_stable_within_a_session_and_bound_to_it(app, browser):
    first = browser.get("/auth/login").get_data(as_text=True)
    second = browser.get("/auth/signup").get_data(as_text=True)
    token = browser.session()["csrf"]
    assert f'value="{token}"' in first and f'value="{token}"' in second
    # Another browser's token does not pass here.
    other = Browser(app)
    resp = other.post("/auth/reset", {"email": "a@example.org", "csrf_token": token})
    assert resp.status_code == 400


def test_check_csrf_compares_in_constant_time(app, monkeypatch):
    calls = []
    real = csrf.hmac.compare_digest
    monkeypatch.setattr(csrf.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    with app.test_request_context("/", method="POST", data={"csrf_token": "abc"}):
        from flask import session
        from werkzeug.exceptions import BadRequest

        session["csrf"] = "abc"
        csrf.check_csrf()
        session["csrf"] = "abd"
        with pytest.raises(BadRequest):
            csrf.check_csrf()
    assert len(calls) == 2


def test_csrf_token_is_available_in_jinja(app):
    with app.test_request_context("/"):
        from flask import render_template_string, session

        rendered = render_template_string("{{ csrf_token() }}")
        assert rendered == session["csrf"]


def test_other_pages_can_extend_the_layout(app):
    with app.test_request_context("/"):
        from flask import render_template_string

        html = render_template_string(
            '{% extends "identity/base.html" %}{% block content %}<h1>Pick a patient</h1>'
            "{% endblock %}",
            title="Choose",
            errors=[{"message": "Pick one", "field": "patient"}],
        )
    assert "<h1>Pick a patient</h1>" in html and "<title>Choose - Fireside</title>" in html
    assert 'role="alert"' in html and '<a href="#patient">Pick one</a>' in html
