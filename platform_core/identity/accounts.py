"""Account flows that send mail: sign-up, email verification, password reset, invitations.

Framework-free (no Flask): the pages, the admin API and the CLI all call these with the
database and the :class:`IdentityServices`. Flows that take an email address from a stranger
(sign-up, resend, reset request) answer the same whether or not the address has an account;
only the mailbox owner learns which, from the mail they receive.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from platform_core.auth.schema import UserRow
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.identity import links, messages
from platform_core.identity.errors import IdentityError
from platform_core.identity.passwords import check_strength, hash_password, verify_dummy
from platform_core.identity.schema import SessionRow
from platform_core.identity.services import IdentityServices
from platform_core.identity.users import (
    User,
    check_email,
    create_user,
    find_user_by_email,
    get_user,
)

SELF_SERVICE_ROLES = ("patient", "guardian", "practitioner")
"""Roles a person may choose on the sign-up page; practitioners also need an admin's
verification before they may prescribe."""
_USERS = UserRow.__table__


def sign_up(
    db: Engine, svc: IdentityServices, *, email: str, password: str, role: str
) -> User | None:
    """Create a ``pending`` account and mail its confirmation link.

    Raises :class:`IdentityError` for a bad address, role or password (nothing written).
    When the address already has an account, nothing is created, the owner is told by mail
    and None is returned: the caller answers exactly as for a new account.
    """
    norm = check_email(email)
    if role not in SELF_SERVICE_ROLES:
        raise IdentityError("unknown_role", "Choose patient, guardian or practitioner.")
    check_strength(password)
    may_mail = svc.may_mail_unsolicited(norm)
    if find_user_by_email(db, norm) is not None:
        verify_dummy(password)  # about the time a new account's hash would take
        if may_mail:
            svc.send(norm, messages.already_registered(svc.settings))
        return None
    try:
        user = create_user(
            db, email=norm, password=password, role=role, status="pending", email_verified=False
        )
    except IdentityError as exc:
        if exc.code != "duplicate_email":
            raise
        return None  # a concurrent sign-up with the same address won
    if may_mail:  # else the person asks for a new link later
        send_verification(db, svc, user)
    return user


def send_verification(db: Engine, svc: IdentityServices, user: User) -> None:
    """Mail a fresh confirmation link (older ones stop working)."""
    with write_transaction(db) as conn:
        raw = links.issue(conn, user.id, "verify_email", svc.settings.password_reset_ttl_s)
    svc.send(user.email, messages.verify_email(svc.settings, raw))


def resend_verification(db: Engine, svc: IdentityServices, email: str) -> None:
    """Mail a new confirmation link if ``email`` names a pending account; else nothing.
    The address's ``mail_address_max`` is counted first, whether or not it has an account,
    so the time taken does not tell."""
    may_mail = svc.may_mail_unsolicited(email)
    user = find_user_by_email(db, email)
    if may_mail and user is not None and user.status == "pending":
        send_verification(db, svc, user)


def verify_email(db: Engine, raw_token: str) -> User:
    """Follow a confirmation link: the address is confirmed and a ``pending`` account becomes
    ``active`` (a suspended one stays suspended). Raises ``invalid_link``."""
    now = now_utc()
    with write_transaction(db) as conn:
        user_id = links.consume(conn, raw_token, "verify_email")
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id, _USERS.c.email_verified_at.is_(None))
            .values(email_verified_at=now, updated_at=now)
        )
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id, _USERS.c.status == "pending")
            .values(status="active", updated_at=now)
        )
        user = get_user(db, user_id, conn=conn)
    assert user is not None
    return user


def request_password_reset(db: Engine, svc: IdentityServices, email: str) -> None:
    """Mail a reset link if ``email`` names an account that is not suspended; else nothing.
    The address's ``mail_address_max`` is counted first, whether or not it has an account,
    so the time taken does not tell."""
    may_mail = svc.may_mail_unsolicited(email)
    user = find_user_by_email(db, email)
    if not may_mail or user is None or user.status == "suspended":
        return
    with write_transaction(db) as conn:
        raw = links.issue(conn, user.id, "reset_password", svc.settings.password_reset_ttl_s)
    svc.send(user.email, messages.reset_password(svc.settings, raw))


def invite(db: Engine, svc: IdentityServices, user: User) -> None:
    """Mail an account created by an admin a link to choose its first password."""
    with write_transaction(db) as conn:
        raw = links.issue(conn, user.id, "reset_password", svc.settings.password_reset_ttl_s)
    svc.send(user.email, messages.invitation(svc.settings, raw, user.role))


def reset_password(db: Engine, svc: IdentityServices, raw_token: str, password: str) -> User:
    """Follow a reset link with a new password.

    The password is checked before the link is used, so a weak one does not burn the link.
    Then, in one transaction: the link is used up, the password set, ``token_generation``
    bumped (every session and access token of the account ends), the lockout cleared, and a
    ``pending`` account activated (the link proved the mailbox). The owner is told by mail.
    """
    password_hash = hash_password(password)
    now = now_utc()
    with write_transaction(db) as conn:
        user_id = links.consume(conn, raw_token, "reset_password")
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(
                password_hash=password_hash,
                token_generation=_USERS.c.token_generation + 1,
                failed_logins=0,
                locked_until=None,
                updated_at=now,
            )
        )
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id, _USERS.c.status == "pending")
            .values(status="active", email_verified_at=now)
        )
        conn.execute(sa.delete(SessionRow.__table__).where(SessionRow.user_id == user_id))
        user = get_user(db, user_id, conn=conn)
    assert user is not None
    svc.send(user.email, messages.password_changed(svc.settings))
    return user


def change_password(db: Engine, svc: IdentityServices, user_id: str, password: str) -> User:
    """A signed-in user's new password: like a reset, every other session and token ends
    (the caller signs the current browser in again)."""
    password_hash = hash_password(password)
    now = now_utc()
    with write_transaction(db) as conn:
        result = conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(
                password_hash=password_hash,
                token_generation=_USERS.c.token_generation + 1,
                failed_logins=0,
                locked_until=None,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            raise IdentityError("unknown_user", f"No user with id {user_id}.")
        conn.execute(sa.delete(SessionRow.__table__).where(SessionRow.user_id == user_id))
        user = get_user(db, user_id, conn=conn)
    assert user is not None
    svc.send(user.email, messages.password_changed(svc.settings))
    return user
