"""Checking a password login, with throttling and lockout.

``settings.login_max_failures`` failures in a row (wrong password or wrong TOTP code) lock
the account for ``settings.lockout_s``; a successful login or a password reset resets the
count. While locked, even the right password is refused. The caller shows one generic
message for an unknown email, a wrong password and a locked account, and an unknown email
costs the same Argon2 time as a known one, so the page reveals nothing about which
addresses have accounts. The owner learns of a lock by mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from platform_core.auth.schema import UserRow
from platform_core.config import Settings
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.identity import passwords
from platform_core.identity.users import User, normalize_email, user_from_row

_USERS = UserRow.__table__

OK = "ok"
"""Password right, account active, no second factor: sign in."""
NEEDS_TOTP = "totp"
"""Password right, the account asks for a TOTP code next."""
FAILED = "failed"
"""Unknown email, wrong password or locked account: one generic answer."""
PENDING = "pending"
"""Password right but the email address is not confirmed yet."""
SUSPENDED = "suspended"
"""Password right but an admin suspended the account."""


@dataclass(frozen=True)
class LoginCheck:
    """The outcome of a password check."""

    outcome: str
    user: User | None = None
    """The account the email names (None when there is none)."""
    reason: str = ""
    """For the audit trail only, never shown: ``unknown email``, ``wrong password``,
    ``locked``."""
    locked_until: datetime | None = None
    """Set when this very failure locked the account (the caller mails the owner)."""


def check_password_login(db: Engine, settings: Settings, email: str, password: str) -> LoginCheck:
    """Check ``email`` and ``password``, counting a failure against the account."""
    with db.connect() as conn:
        row = conn.execute(
            sa.select(_USERS).where(_USERS.c.email == normalize_email(email))
        ).first()
    if row is None:
        passwords.verify_dummy(password)
        return LoginCheck(FAILED, reason="unknown email")
    user = user_from_row(row)
    if row.locked_until is not None and row.locked_until > now_utc():
        passwords.verify_dummy(password)
        return LoginCheck(FAILED, user, reason="locked")
    if not passwords.verify_password(row.password_hash, password):
        locked = record_failure(db, settings, user.id)
        return LoginCheck(FAILED, user, reason="wrong password", locked_until=locked)
    if user.status == "suspended":
        return LoginCheck(SUSPENDED, user, reason="suspended")
    if user.status != "active":
        return LoginCheck(PENDING, user, reason="email not confirmed")
    if passwords.needs_rehash(row.password_hash):
        _store_rehash(db, user.id, password)
    if user.totp_enabled:
        return LoginCheck(NEEDS_TOTP, user)
    record_success(db, user.id)
    return LoginCheck(OK, user)


def record_failure(db: Engine, settings: Settings, user_id: str) -> datetime | None:
    """Count a failed attempt; returns the lock's end when this failure locked the account."""
    now = now_utc()
    with write_transaction(db) as conn:
        row = conn.execute(
            sa.select(_USERS.c.failed_logins).where(_USERS.c.id == user_id).with_for_update()
        ).first()
        if row is None:
            return None
        failures = row.failed_logins + 1
        if failures >= settings.login_max_failures:
            until = now + timedelta(seconds=settings.lockout_s)
            conn.execute(
                sa.update(_USERS)
                .where(_USERS.c.id == user_id)
                .values(failed_logins=0, locked_until=until)
            )
            return until
        conn.execute(sa.update(_USERS).where(_USERS.c.id == user_id).values(failed_logins=failures))
    return None


def record_success(db: Engine, user_id: str) -> None:
    """Reset the failure count after a complete login."""
    with write_transaction(db) as conn:
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(failed_logins=0, locked_until=None)
        )


def is_locked(db: Engine, user_id: str) -> bool:
    """Whether the account is locked now (checked again at the TOTP step)."""
    with db.connect() as conn:
        until = conn.execute(
            sa.select(_USERS.c.locked_until).where(_USERS.c.id == user_id)
        ).scalar_one_or_none()
    return until is not None and until > now_utc()


def check_current_password(db: Engine, user_id: str, password: str) -> bool:
    """Whether ``password`` is the user's (for changing it or turning TOTP off)."""
    with db.connect() as conn:
        stored = conn.execute(
            sa.select(_USERS.c.password_hash).where(_USERS.c.id == user_id)
        ).scalar_one_or_none()
    return passwords.verify_password(stored, password)


def _store_rehash(db: Engine, user_id: str, password: str) -> None:
    with write_transaction(db) as conn:
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(password_hash=passwords.hasher.hash(password))
        )
