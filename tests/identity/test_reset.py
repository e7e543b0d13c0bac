"""Password reset: same answer for every address, single-use expiring links, and a reset
that ends every session and token and lifts a lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from platform_core.fhir.instants import now_utc
from platform_core.identity.reset_views import SENT
from platform_core.identity.users import find_user_by_email
from tests.identity.conftest import PASSWORD, Browser, expire_links, set_columns, user_row

NEW = "a brand new passphrase"


def _ask(browser, email):
    return browser.post("/auth/reset", {"email": email})


def test_request_answers_the_same_whether_or_not_the_address_exists(browser, make_user, outbox):
    make_user(email="ada@example.org")
    known = _ask(browser, "ada@example.org")
    unknown = _ask(browser, "ghost@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert SENT in known.get_data(as_text=True)
    assert [m["To"] for m in outbox.messages()] == ["ada@example.org"]


def test_request_without_email_is_refused(browser, counts, outbox):
    before = counts()
    resp = _ask(browser, "")
    assert resp.status_code == 400 and 'href="#email"' in resp.get_data(as_text=True)
    assert counts() == before and outbox.messages() == []


def test_suspended_accounts_get_no_link(browser, make_user, outbox):
    make_user(email="gone@example.org", status="suspended")
    assert _ask(browser, "gone@example.org").status_code == 200
    assert outbox.messages() == []


def test_reset_sets_the_password_and_ends_sessions_and_tokens(app, browser, make_user, outbox):
    core = app.extensions["fireside"]
    user = make_user(email="ada@example.org")
    other_device = Browser(app)
    assert other_device.login("ada@example.org").status_code == 303
    raw, _ = core.auth.tokens.issue(
        client_id="app", scope="openid", user_id=user.id, generation=user.token_generation
    )
    _ask(browser, "ada@example.org")
    token = outbox.last_link("ada@example.org", "reset")
    form = browser.get(f"/auth/reset/{token}")
    assert form.status_code == 200 and '<label for="password">' in form.get_data(as_text=True)
    done = browser.post(f"/auth/reset/{token}", {"password": NEW, "password_confirm": NEW})
    assert done.status_code == 200
    # The other device is signed out; the old access token's generation no longer matches.
    assert other_device.get("/auth/account").status_code == 303
    updated = find_user_by_email(core.db, "ada@example.org")
    assert updated.token_generation == user.token_generation + 1
    assert core.auth.tokens.verify(raw).generation != updated.token_generation
    # Old password out, new one in; the owner was told.
    assert browser.login("ada@example.org", PASSWORD).status_code == 401
    assert browser.login("ada@example.org", NEW).status_code == 303
    assert "changed" in outbox.to("ada@example.org")[-1]["Subject"]


def test_reset_link_works_once(browser, make_user, outbox):
    make_user(email="ada@example.org")
    _ask(browser, "ada@example.org")
    token = outbox.last_link("ada@example.org", "reset")
    form = {"password": NEW, "password_confirm": NEW}
    assert browser.post(f"/auth/reset/{token}", form).status_code == 200
    again = {"password": "yet another passphrase", "password_confirm": "yet another passphrase"}
    assert browser.post(f"/auth/reset/{token}", again).status_code == 404
    assert browser.login("ada@example.org", NEW).status_code == 303


def test_expired_reset_link_does_not_work(browser, db, make_user, outbox):
    make_user(email="ada@example.org")
    _ask(browser, "ada@example.org")
    token = outbox.last_link("ada@example.org", "reset")
    expire_links(db)
    assert browser.get(f"/auth/reset/{token}").status_code == 404
    resp = browser.post(f"/auth/reset/{token}", {"password": NEW, "password_confirm": NEW})
    assert resp.status_code == 404
    assert browser.login("ada@example.org", PASSWORD).status_code == 303


def test_verification_link_is_not_a_reset_link(browser, outbox):
    form = {
        "email": "new@example.org",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "role": "patient",
    }
    browser.post("/auth/signup", form)
    token = outbox.last_link("new@example.org", "verify")
    assert browser.get(f"/auth/reset/{token}").status_code == 404


@pytest.mark.parametrize(("password", "confirm"), [("short", "short"), (NEW, NEW + "!"), ("", "")])
def test_a_bad_new_password_keeps_the_link_and_writes_nothing(
    browser, db, make_user, outbox, counts, password, confirm
):
    user = make_user(email="ada@example.org")
    _ask(browser, "ada@example.org")
    token = outbox.last_link("ada@example.org", "reset")
    before, hash_before = counts(), user_row(db, user.id).password_hash
    resp = browser.post(f"/auth/reset/{token}", {"password": password, "password_confirm": confirm})
    assert resp.status_code == 400 and 'role="alert"' in resp.get_data(as_text=True)
    assert counts() == before and user_row(db, user.id).password_hash == hash_before
    assert (
        browser.post(f"/auth/reset/{token}", {"password": NEW, "password_confirm": NEW}).status_code
        == 200
    )


def test_reset_lifts_a_lockout(browser, db, make_user, outbox):
    user = make_user(email="ada@example.org")
    set_columns(db, user.id, locked_until=now_utc() + timedelta(hours=1), failed_logins=2)
    assert browser.login("ada@example.org").status_code == 401
    _ask(browser, "ada@example.org")
    token = outbox.last_link("ada@example.org", "reset")
    browser.post(f"/auth/reset/{token}", {"password": NEW, "password_confirm": NEW})
    row = user_row(db, user.id)
    assert row.locked_until is None and row.failed_logins == 0
    assert browser.login("ada@example.org", NEW).status_code == 303


def test_reset_activates_a_pending_account(browser, db, make_user, outbox):
    make_user(email="new@example.org", status="pending", email_verified=False)
    _ask(browser, "new@example.org")
    token = outbox.last_link("new@example.org", "reset")
    browser.post(f"/auth/reset/{token}", {"password": NEW, "password_confirm": NEW})
    user = find_user_by_email(db, "new@example.org")
    assert user.status == "active" and user.email_verified_at is not None


def test_change_password_signs_out_other_devices_but_not_this_one(app, browser, make_user):
    make_user(email="ada@example.org")
    other = Browser(app)
    other.login("ada@example.org")
    browser.login("ada@example.org")
    assert browser.get("/auth/password").status_code == 200
    resp = browser.post(
        "/auth/password",
        {"current_password": PASSWORD, "password": NEW, "password_confirm": NEW},
    )
    assert resp.status_code == 303
    assert browser.get("/auth/account").status_code == 200
    assert other.get("/auth/account").status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field"),
    [
        ("wrong password!", NEW, NEW, "current-password"),
        (PASSWORD, NEW, NEW + "x", "password-confirm"),
        (PASSWORD, "short", "short", "password"),
    ],
)
def test_change_password_refusals_write_nothing(
    browser, db, make_user, counts, current, new, confirm, field
):
    user = make_user(email="ada@example.org")
    browser.login("ada@example.org")
    before, row_before = counts(), user_row(db, user.id)
    resp = browser.post(
        "/auth/password",
        {"current_password": current, "password": new, "password_confirm": confirm},
    )
    assert resp.status_code == 400 and f'href="#{field}"' in resp.get_data(as_text=True)
    assert counts() == before and user_row(db, user.id) == row_before


def test_change_password_needs_a_session(browser):
    resp = browser.get("/auth/password")
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/auth/login?next=")
