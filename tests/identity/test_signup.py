"""Sign-up and email verification."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from platform_core.identity.signup_views import CHECK_INBOX
from platform_core.identity.users import find_user_by_email
from tests.identity.conftest import PASSWORD, expire_links

FORM = {
    "email": "new@example.org",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
    "role": "patient",
}


def test_signup_form_is_accessible(browser):
    html = browser.get("/auth/signup").get_data(as_text=True)
    for field_id in (
        "email",
        "password",
        "password-confirm",
        "role-patient",
        "role-guardian",
        "role-practitioner",
    ):
        assert f'<label for="{field_id}"' in html and f'id="{field_id}"' in html
    assert "<fieldset>" in html and "<legend>" in html


def test_signup_creates_a_pending_account_and_mails_a_link(browser, db, outbox):
    resp = browser.post("/auth/signup", FORM)
    assert resp.status_code == 200 and CHECK_INBOX in resp.get_data(as_text=True)
    user = find_user_by_email(db, "new@example.org")
    assert user is not None and user.status == "pending" and user.email_verified_at is None
    assert browser.login("new@example.org").status_code == 403
    token = outbox.last_link("new@example.org", "verify")
    # Opening the link only shows a button: a mail scanner fetching it changes nothing.
    page = browser.get(f"/auth/verify/{token}")
    assert page.status_code == 200 and 'id="verify-button"' in page.get_data(as_text=True)
    assert find_user_by_email(db, "new@example.org").status == "pending"
    done = browser.post(f"/auth/verify/{token}")
    assert done.status_code == 200
    user = find_user_by_email(db, "new@example.org")
    assert user.status == "active" and user.email_verified_at is not None
    assert browser.login("new@example.org").status_code == 303


def test_a_verification_link_works_once(browser, outbox):
    browser.post("/auth/signup", FORM)
    token = outbox.last_link("new@example.org", "verify")
    assert browser.post(f"/auth/verify/{token}").status_code == 200
    assert browser.post(f"/auth/verify/{token}").status_code == 404
    assert browser.get(f"/auth/verify/{token}").status_code == 404


def test_an_expired_verification_link_does_not_work(browser, db, outbox):
    browser.post("/auth/signup", FORM)
    token = outbox.last_link("new@example.org", "verify")
    expire_links(db)
    assert browser.get(f"/auth/verify/{token}").status_code == 404
    assert browser.post(f"/auth/verify/{token}").status_code == 404
    assert find_user_by_email(db, "new@example.org").status == "pending"


def test_a_forged_link_does_not_work(browser, counts):
    before = counts()
    assert browser.get("/auth/verify/not-a-token").status_code == 404
    assert browser.post("/auth/verify/not-a-token").status_code == 404
    assert browser.post("/auth/verify/" + "x" * 500).status_code == 404
    assert counts() == before


def test_tokens_are_stored_hashed(browser, db, outbox):
    browser.post("/auth/signup", FORM)
    token = outbox.last_link("new@example.org", "verify")
    with db.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM identity_token")).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]


def test_a_new_link_replaces_the_old_one(browser, outbox):
    browser.post("/auth/signup", FORM)
    first = outbox.last_link("new@example.org", "verify")
    resp = browser.post("/auth/verify", {"email": "new@example.org"})
    assert resp.status_code == 200
    second = outbox.last_link("new@example.org", "verify")
    assert first != second
    assert browser.post(f"/auth/verify/{first}").status_code == 404
    assert browser.post(f"/auth/verify/{second}").status_code == 200


def test_resend_answers_the_same_for_unknown_and_active_addresses(browser, make_user, outbox):
    make_user(email="old@example.org")
    answers = [
        browser.post("/auth/verify", {"email": e}).get_data(as_text=True)
        for e in ("old@example.org", "ghost@example.org")
    ]
    assert answers[0] == answers[1]
    assert outbox.messages() == []


def test_signup_with_a_taken_address_answers_the_same_and_tells_the_owner(
    browser, make_user, outbox, counts
):
    make_user(email="new@example.org")
    before = counts()
    resp = browser.post("/auth/signup", FORM)
    assert resp.status_code == 200 and CHECK_INBOX in resp.get_data(as_text=True)
    after = counts()
    # Nothing but the mail's own job: no account, no link.
    assert after.pop("job_outbox") == before.pop("job_outbox") + 1
    assert after == before
    [mail] = outbox.to("new@example.org")
    assert "already have one" in mail.get_content()


def test_practitioner_signs_up_unverified(browser, db, outbox):
    browser.post("/auth/signup", {**FORM, "role": "practitioner"})
    token = outbox.last_link("new@example.org", "verify")
    resp = browser.post(f"/auth/verify/{token}")
    assert "administrator will check" in resp.get_data(as_text=True)
    user = find_user_by_email(db, "new@example.org")
    assert user.role == "practitioner" and user.status == "active" and user.verified_at is None


def test_guardian_can_sign_up(browser, db):
    browser.post("/auth/signup", {**FORM, "role": "guardian"})
    assert find_user_by_email(db, "new@example.org").role == "guardian"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"password": "short", "password_confirm": "short"}, "password"),
        ({"password": ""}, "password"),
        ({"password_confirm": "something else"}, "password-confirm"),
        ({"role": "admin"}, "role-patient"),
        ({"role": "super_admin"}, "role-patient"),
        ({"role": "pharmacist"}, "role-patient"),
        ({"role": ""}, "role-patient"),
    ],
)
def test_bad_signup_is_refused_and_nothing_written(browser, outbox, counts, changes, field):
    before = counts()
    resp = browser.post("/auth/signup", {**FORM, **changes})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'role="alert"' in html and f'href="#{field}"' in html
    assert counts() == before
    assert outbox.messages() == []


def test_signup_without_csrf_writes_nothing(browser, counts):
    before = counts()
    assert browser.post("/auth/signup", FORM, csrf=False).status_code == 400
    assert counts() == before


def test_signup_keeps_working_when_mail_fails(browser, app, db, monkeypatch):
    from platform_core.identity.mail import MailError

    class Broken:
        def send(self, message):
            raise MailError("relay down")

    monkeypatch.setattr(app.extensions["fireside.identity"], "mailer", Broken())
    resp = browser.post("/auth/signup", FORM)
    assert resp.status_code == 200 and CHECK_INBOX in resp.get_data(as_text=True)
    assert find_user_by_email(db, "new@example.org").status == "pending"
