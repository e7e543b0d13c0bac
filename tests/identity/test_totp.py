"""The optional TOTP second factor: enrolment, the login's second step, replay, lockout."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from platform_core.identity import totp
from platform_core.identity.users import get_user
from tests.identity.conftest import PASSWORD, user_row


def _enrol(browser) -> str:
    page = browser.get("/auth/totp").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "otpauth://totp/Fireside:" in page and f"secret={secret}" in page
    code = pyotp.TOTP(secret).now()
    assert browser.post("/auth/totp", {"code": code}).status_code == 303
    return secret


def _code_for_next_step(secret: str) -> str:
    """A valid code that was not used yet (the next 30-second step, within the drift)."""
    return pyotp.TOTP(secret).at(time.time() + totp.INTERVAL_S)


def test_enrolment_needs_a_session(browser):
    resp = browser.get("/auth/totp")
    assert resp.status_code == 303 and "next=%2Fauth%2Ftotp" in resp.headers["Location"]


def test_enrol_then_login_asks_for_the_code(browser, db, make_user, audit):
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org")
    secret = _enrol(browser)
    assert get_user(db, user.id).totp_enabled
    browser.post("/auth/logout")
    resp = browser.login("ada@example.org", next_path="/auth/account?x=1")
    assert resp.status_code == 303 and resp.headers["Location"] == "/auth/login/totp"
    # Not signed in yet.
    assert browser.get("/auth/account").status_code == 303
    page = browser.get("/auth/login/totp").get_data(as_text=True)
    assert '<label for="code">' in page
    done = browser.post("/auth/login/totp", {"code": _code_for_next_step(secret)})
    assert done.status_code == 303 and done.headers["Location"] == "/auth/account?x=1"
    assert browser.get("/auth/account").status_code == 200
    assert [(r.outcome, r.subtype) for r in audit.of_kind("login")][-1] == ("0", "totp")


def test_a_code_cannot_be_used_twice(app, browser, make_user):
    from tests.identity.conftest import Browser

    make_user(email="ada@example.org")
    browser.login("ada@example.org")
    secret = _enrol(browser)
    code = _code_for_next_step(secret)
    first, second = Browser(app), Browser(app)
    first.login("ada@example.org")
    assert first.post("/auth/login/totp", {"code": code}).status_code == 303
    second.login("ada@example.org")
    assert second.post("/auth/login/totp", {"code": code}).status_code == 401


def test_wrong_codes_count_towards_the_lockout(browser, db, make_user, audit, outbox):
    settings = browser.app.extensions["fireside"].settings
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org")
    secret = _enrol(browser)
    browser.post("/auth/logout")
    browser.login("ada@example.org")
    for _ in range(settings.login_max_failures - 1):
        resp = browser.post("/auth/login/totp", {"code": "000000"})
        assert resp.status_code == 401 and 'href="#code"' in resp.get_data(as_text=True)
    last = browser.post("/auth/login/totp", {"code": "000000"})
    assert last.status_code == 401
    assert user_row(db, user.id).locked_until is not None
    # The pending second step is gone; a right code no longer helps.
    follow = browser.post("/auth/login/totp", {"code": _code_for_next_step(secret)})
    assert follow.status_code == 303 and follow.headers["Location"] == "/auth/login"
    assert browser.get("/auth/account").status_code == 303
    assert "paused" in outbox.to("ada@example.org")[-1]["Subject"]
    assert audit.of_kind("login")[-1].subtype == "totp"


def test_second_step_without_a_password_step_goes_back_to_login(browser):
    assert browser.get("/auth/login/totp").headers["Location"] == "/auth/login"
    assert browser.post("/auth/login/totp", {"code": "123456"}).status_code == 303


def test_second_step_expires(browser, make_user, monkeypatch):
    make_user(email="ada@example.org")
    browser.login("ada@example.org")
    secret = _enrol(browser)
    browser.post("/auth/logout")
    browser.login("ada@example.org")
    with browser.client.session_transaction() as sess:
        pending = dict(sess["identity_2fa"])
        pending["at"] -= 3600
        sess["identity_2fa"] = pending
    resp = browser.post("/auth/login/totp", {"code": _code_for_next_step(secret)})
    assert resp.headers["Location"] == "/auth/login"


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "1234567", "000000"])
def test_enrolment_with_a_wrong_code_stores_nothing(browser, db, make_user, counts, code):
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org")
    browser.get("/auth/totp")
    before = counts()
    resp = browser.post("/auth/totp", {"code": code})
    assert resp.status_code == 400 and 'href="#code"' in resp.get_data(as_text=True)
    assert counts() == before and not get_user(db, user.id).totp_enabled


def test_turning_totp_off_needs_the_password(browser, db, make_user, counts):
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org")
    _enrol(browser)
    page = browser.get("/auth/totp").get_data(as_text=True)
    assert 'id="totp-disable-button"' in page
    before = counts()
    assert browser.post("/auth/totp/disable", {"password": "wrong password!"}).status_code == 400
    assert counts() == before and get_user(db, user.id).totp_enabled
    assert browser.post("/auth/totp/disable", {"password": PASSWORD}).status_code == 303
    assert not get_user(db, user.id).totp_enabled
    browser.post("/auth/logout")
    assert browser.login("ada@example.org").headers["Location"] == "/auth/account"


def test_code_matching_allows_one_step_of_drift():
    secret = pyotp.random_base32()
    now = 1_700_000_000.0
    step = int(now // 30)
    for delta in (-1, 0, 1):
        assert totp.matching_step(secret, pyotp.TOTP(secret).at(now + 30 * delta), now) == (
            step + delta
        )
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now + 90), now) is None
    assert totp.matching_step(secret, " 12 34 ", now) is None
