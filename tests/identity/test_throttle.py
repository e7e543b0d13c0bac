"""Per-address rate limits: failed logins, requests that send mail, and mails per email
address; the caller address behind trusted proxies; the session lifetime setting."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core.app import create_app
from platform_core.db.migrate import migrate_core
from platform_core.identity.login_views import THROTTLED
from platform_core.identity.reset_views import SENT
from platform_core.identity.schema import SessionRow
from platform_core.identity.throttle import Rule, Throttle, wait_seconds
from tests.identity.conftest import PASSWORD, AuditTrail, Browser, user_row

ATTACKER = "203.0.113.66"
NEIGHBOUR = "198.51.100.7"


@pytest.fixture
def limits(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Run this test with some settings changed (the limits are read per request)."""

    def change(**values: Any) -> None:
        core = app.extensions["fireside"]
        settings = dataclasses.replace(core.settings, **values)
        monkeypatch.setattr(core, "settings", settings)
        monkeypatch.setattr(app.extensions["fireside.identity"], "settings", settings)

    return change


def from_address(browser: Browser, address: str) -> Browser:
    browser.client.environ_base["REMOTE_ADDR"] = address
    return browser


def table_rows(db: sa.Engine, table: sa.Table) -> int:
    with db.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


# --- the sliding window ---------------------------------------------------------------------
class TestWaitSeconds:
    rule = Rule("x", limit=10, window_s=100)

    def test_under_the_limit_there_is_no_wait(self) -> None:
        assert wait_seconds(self.rule, previous=0, current=9, elapsed=50) is None

    def test_a_full_window_waits_for_the_next_and_for_enough_to_slide_past(self) -> None:
        # 10 hits now: the next window starts in 40 s, and the estimate stays at 10 until
        # 10 % of the old window has slid out of it.
        assert wait_seconds(self.rule, previous=0, current=10, elapsed=60) == 40 + 10

    def test_the_previous_window_counts_by_how_much_it_still_overlaps(self) -> None:
        # 5 now plus 10 earlier, 30 % into this window: 5 + 7 = 12 > 9 allowed before a hit.
        # One more is allowed once 5 + 10 * (1 - f) <= 9, at f = 0.6: 30 s from now.
        assert wait_seconds(self.rule, previous=10, current=5, elapsed=30) == 30
        assert wait_seconds(self.rule, previous=10, current=5, elapsed=60) is None


class TestThrottleOnTheDatabase:
    def test_windows_slide_with_the_clock(self, db: sa.Engine) -> None:
        now = [1_000_000.0]
        throttle = Throttle(db, clock=lambda: now[0])
        rule = Rule("t", limit=3, window_s=60)
        assert [throttle.take(rule, "a") for _ in range(3)] == [None, None, None]
        assert throttle.take(rule, "a") is not None
        assert throttle.take(rule, "b") is None  # another caller has its own count
        now[0] += 60 * 2  # two windows later nothing of the old hits counts
        assert throttle.wait(rule, "a") is None
        assert throttle.take(rule, "a") is None

    def test_expired_counters_are_deleted(self, db: sa.Engine) -> None:
        now = [2_000_000.0]
        throttle = Throttle(db, clock=lambda: now[0])
        throttle.hit(Rule("old", 5, 10), "a")
        now[0] += 1_000
        throttle.hit(Rule("new", 5, 10), "a")
        with db.connect() as conn:
            buckets = conn.execute(sa.text("SELECT bucket FROM identity_throttle")).scalars()
            assert list(buckets) == ["new:a"]

    def test_concurrent_takes_never_pass_the_limit(self, db: sa.Engine) -> None:
        throttle = Throttle(db)
        rule = Rule("race", limit=5, window_s=3600)
        results: list[int | None] = []
        lock = threading.Lock()
        start = threading.Barrier(12)

        def take() -> None:
            start.wait()
            outcome = throttle.take(rule, "same")
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=take) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(None) == 5
        assert throttle.wait(rule, "same") is not None


# --- logins -----------------------------------------------------------------------------------
def test_failed_logins_from_one_address_across_accounts_are_refused_with_429(
    app, browser, make_user, limits, audit, db
):
    limits(login_ip_max_failures=4, login_ip_window_s=600)
    victim = make_user(email="victim@example.org")
    from_address(browser, ATTACKER)
    # One guess on each of four accounts: no account reaches its own lockout.
    for n in range(4):
        assert browser.login(f"someone{n}@example.org", "guess").status_code == 401
    sessions = table_rows(db, SessionRow.__table__)
    refused = browser.login("victim@example.org", PASSWORD)
    assert refused.status_code == 429
    # Until the next window, plus the part of it the sliding estimate needs (below 2 windows).
    assert 0 < int(refused.headers["Retry-After"]) < 2 * 600
    assert "too many attempts from your network" in refused.get_data(as_text=True)
    # Refused before the password was looked at: no session, no failure counted on the
    # account, and the refusal is audited.
    assert table_rows(db, SessionRow.__table__) == sessions
    assert user_row(db, victim.id).failed_logins == 0
    assert "uid" not in browser.session()
    assert audit.of_kind("login")[-1].description == THROTTLED
    assert audit.of_kind("login")[-1].remote_addr == ATTACKER
    # Someone else, on another address, signs in as usual.
    neighbour = from_address(Browser(app), NEIGHBOUR)
    assert neighbour.login("victim@example.org").status_code == 303


def test_successful_logins_do_not_count(browser, make_user, limits):
    limits(login_ip_max_failures=2)
    make_user(email="ada@example.org")
    for _ in range(5):
        assert browser.login("ada@example.org").status_code == 303
        browser.post("/auth/logout")


def test_wrong_totp_codes_count_against_the_address(app, browser, make_user, limits, db):
    import pyotp

    from platform_core.identity import totp

    limits(login_ip_max_failures=2)
    user = make_user(email="ada@example.org")
    secret = totp.new_secret()
    core = app.extensions["fireside"]
    totp.enable(db, core.auth.sealer, user.id, secret, pyotp.TOTP(secret).now())
    from_address(browser, ATTACKER)
    for _ in range(2):
        assert browser.login("ada@example.org").status_code == 303  # on to the code step
        assert browser.post("/auth/login/totp", {"code": "000000"}).status_code == 401
    assert browser.login("ada@example.org").status_code == 429


# --- mail ---------------------------------------------------------------------------------------
def test_requests_that_send_mail_are_limited_per_address(app, browser, make_user, limits, outbox):
    limits(mail_ip_max_requests=3)
    make_user(email="ada@example.org")
    from_address(browser, ATTACKER)
    asks = [
        browser.post("/auth/reset", {"email": "ada@example.org"}),
        browser.post("/auth/verify", {"email": "ada@example.org"}),
        browser.post(
            "/auth/signup",
            {
                "email": "new@example.org",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
                "role": "patient",
            },
        ),
    ]
    assert [a.status_code for a in asks] == [200, 200, 200]
    mails = len(outbox.messages())
    refused = browser.post("/auth/reset", {"email": "ada@example.org"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert len(outbox.messages()) == mails
    neighbour = from_address(Browser(app), NEIGHBOUR)
    assert neighbour.post("/auth/reset", {"email": "ada@example.org"}).status_code == 200


def test_links_to_one_mailbox_stop_but_the_page_does_not_tell(
    app, browser, make_user, limits, outbox, db
):
    limits(mail_address_max=2)
    make_user(email="ada@example.org")
    answers = []
    for n in range(4):  # four callers, each under its own limit
        caller = from_address(Browser(app), f"192.0.2.{n + 1}")
        answers.append(caller.post("/auth/reset", {"email": "Ada@Example.org"}))
    assert {a.status_code for a in answers} == {200}
    assert len({a.get_data() for a in answers}) == 1 and SENT in answers[0].get_data(as_text=True)
    assert len(outbox.to("ada@example.org")) == 2
    # The dropped requests issued no new link (which would end the mailed one), so the
    # last mailed link still works.
    token = outbox.last_link("ada@example.org", "reset")
    assert browser.get(f"/auth/reset/{token}").status_code == 200


def test_the_address_limit_is_counted_for_unknown_addresses_too(app, browser, limits, db):
    """So an unknown address takes the same path (and time) as a known one."""
    limits(mail_address_max=1)
    assert browser.post("/auth/reset", {"email": "ghost@example.org"}).status_code == 200
    with db.connect() as conn:
        hits = conn.execute(
            sa.text("SELECT hits FROM identity_throttle WHERE bucket = 'mail-to:ghost@example.org'")
        ).scalar_one()
    assert hits == 1


def test_security_notices_are_never_dropped(app, browser, make_user, limits, outbox):
    limits(mail_address_max=1, login_max_failures=1, login_ip_max_failures=100)
    make_user(email="ada@example.org")
    browser.post("/auth/reset", {"email": "ada@example.org"})  # uses the one unsolicited mail
    assert browser.login("ada@example.org", "wrong").status_code == 401  # locks the account
    subjects = [m["Subject"] for m in outbox.to("ada@example.org")]
    assert len(subjects) == 2 and any("paused" in s for s in subjects)


# --- the caller's address and the session lifetime -------------------------------------------
@pytest.fixture
def proxied_app(tmp_path) -> Iterator[Flask]:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'proxied.db'}",
            "mail_url": (tmp_path / "mail").as_uri(),
            "base_url": "http://testserver",
            "trusted_proxies": 1,
            "jobs_inline_background": False,
            "jobs_inline_sync": True,
        }
    )
    migrate_core(app.extensions["fireside"])
    yield app
    app.extensions["fireside"].dispose()


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_caller(proxied_app):
    trail = AuditTrail()
    core = proxied_app.extensions["fireside"]
    real_audit, core.audit = core.audit, trail
    browser = Browser(proxied_app)
    browser.client.environ_base.update(
        {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.5"}
    )
    assert browser.login("nobody@example.org", "guess").status_code == 401
    core.audit = real_audit
    # One trusted proxy: the address it appended is the caller; the rest could be forged.
    assert trail.of_kind("login")[-1].remote_addr == "203.0.113.5"


def test_without_trusted_proxies_a_forwarded_header_is_ignored(app, browser, make_user, audit):
    make_user(email="ada@example.org")
    browser.client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.99"
    browser.login("ada@example.org", "wrong")
    assert audit.of_kind("login")[-1].remote_addr == "127.0.0.1"


def test_the_session_lifetime_is_a_setting(app, browser, make_user, limits, db):
    limits(session_ttl_s=60)
    make_user(email="ada@example.org")
    assert browser.login("ada@example.org").status_code == 303
    with db.connect() as conn:
        row = conn.execute(sa.select(SessionRow.__table__)).one()
    assert (row.expires_at - row.created_at).total_seconds() == 60
