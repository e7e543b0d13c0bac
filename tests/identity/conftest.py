"""Fixtures of the identity tests: a cheap password hasher, a folder outbox, a recorded audit
trail, a browser-like client that fills in CSRF tokens, and a user factory."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from platform_core.audit.records import AuditRecord
from platform_core.identity import passwords
from platform_core.identity.csrf import SESSION_KEY as CSRF_KEY
from platform_core.identity.mail import FileMailer
from platform_core.identity.users import User, create_user

PASSWORD = "correct horse battery"
"""The password of every user the ``make_user`` factory creates."""


@pytest.fixture(autouse=True)
def _cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with minimal cost: the same code path, a fraction of the CPU."""
    monkeypatch.setattr(
        passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


class Outbox:
    """The messages the app mailed during one test, oldest first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self) -> list[EmailMessage]:
        if not self.folder.exists():
            return []
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.folder.glob("*.eml"))
        ]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if m["To"] == address]

    def last_link(self, address: str, path: str) -> str:
        """The token of the last link ``/auth/<path>/<token>`` mailed to ``address``."""
        for message in reversed(self.to(address)):
            body = message.get_content()
            found = re.search(rf"http://testserver/auth/{path}/([A-Za-z0-9_\-]+)", body)
            if found:
                return found.group(1)
        raise AssertionError(f"no /auth/{path}/ link mailed to {address}")


@pytest.fixture
def outbox(app: Flask, tmp_path: Path) -> Iterator[Outbox]:
    """Point the app's mailer at a folder of this test's own."""
    services = app.extensions["fireside.identity"]
    previous = services.mailer
    services.mailer = FileMailer(tmp_path / "mail")
    yield Outbox(tmp_path / "mail")
    services.mailer = previous


@dataclass
class AuditTrail:
    """Stands in for ``core.audit``: keeps what was recorded."""

    records: list[AuditRecord] = field(default_factory=list)

    def record(self, record: AuditRecord) -> None:
        self.records.append(record)

    def of_kind(self, kind: str) -> list[AuditRecord]:
        return [r for r in self.records if r.kind == kind]


@pytest.fixture
def audit(app: Flask, monkeypatch: pytest.MonkeyPatch) -> AuditTrail:
    """Record audit events in memory (the real service writes AuditEvents in batches)."""
    trail = AuditTrail()
    monkeypatch.setattr(app.extensions["fireside"], "audit", trail)
    return trail


class Browser:
    """A test client that behaves like a browser filling in forms: every POST carries the
    session's CSRF token unless told otherwise."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()

    def csrf(self) -> str:
        """The session's CSRF token, as a page would have put it in its form."""
        with self.client.session_transaction() as sess:
            if not sess.get(CSRF_KEY):
                sess[CSRF_KEY] = secrets.token_urlsafe(32)
            return sess[CSRF_KEY]

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> Any:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=form)

    def login(self, email: str, password: str = PASSWORD, next_path: str = "") -> Any:
        return self.post("/auth/login", {"email": email, "password": password, "next": next_path})

    def session(self) -> dict[str, Any]:
        with self.client.session_transaction() as sess:
            return dict(sess)


@pytest.fixture
def browser(app: Flask, audit: AuditTrail, outbox: Outbox) -> Browser:
    return Browser(app)


@pytest.fixture
def make_user(db: sa.Engine) -> Callable[..., User]:
    """Create an active user with :data:`PASSWORD` (keyword arguments override)."""
    counter = iter(range(1, 10_000))

    def make(**kw: Any) -> User:
        kw.setdefault("email", f"user{next(counter)}@example.org")
        kw.setdefault("password", PASSWORD)
        kw.setdefault("role", "patient")
        return create_user(db, **kw)

    return make


def user_row(db: sa.Engine, user_id: str) -> Any:
    """The raw ``auth_user`` row (failed_logins, locked_until, password_hash...)."""
    from platform_core.auth.schema import UserRow

    with db.connect() as conn:
        return conn.execute(
            sa.select(UserRow.__table__).where(UserRow.__table__.c.id == user_id)
        ).one()


def set_columns(db: sa.Engine, user_id: str, **values: Any) -> None:
    """Change ``auth_user`` columns behind the app's back (to move a lock into the past...)."""
    from platform_core.auth.schema import UserRow

    table = UserRow.__table__
    with db.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == user_id).values(**values))


def expire_links(db: sa.Engine) -> None:
    """Move every mailed link's expiry into the past."""
    from datetime import timedelta

    from platform_core.fhir.instants import now_utc
    from platform_core.identity.schema import OneTimeTokenRow

    with db.begin() as conn:
        conn.execute(
            sa.update(OneTimeTokenRow.__table__).values(expires_at=now_utc() - timedelta(seconds=1))
        )
