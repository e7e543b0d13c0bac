"""Single-use, expiring links sent by mail (email verification, password reset).

The token in the link is 256 random bits; only its SHA-256 is stored, so whoever reads the
database cannot use a pending link. Consuming is one conditional ``UPDATE`` (unused, not
expired, right purpose) inside the caller's transaction: of two clicks racing, exactly one
wins, and if the caller's later work fails the link stays unused.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from platform_core.auth.secrets import digest
from platform_core.fhir.instants import now_utc
from platform_core.identity.errors import IdentityError
from platform_core.identity.schema import OneTimeTokenRow

PURPOSES = ("verify_email", "reset_password")
_TOKENS = OneTimeTokenRow.__table__
_MAX_TOKEN_LENGTH = 128


def token_hash(raw: str) -> str:
    """The stored form of a token."""
    return digest(raw)


def issue(conn: Connection, user_id: str, purpose: str, ttl_s: int) -> str:
    """A new token for ``user_id``; the user's older unused tokens for the same purpose stop
    working (only the newest mail's link counts), and long-expired rows are swept."""
    assert purpose in PURPOSES
    now = now_utc()
    conn.execute(
        sa.delete(_TOKENS).where(
            (_TOKENS.c.user_id == user_id) & (_TOKENS.c.purpose == purpose)
            | (_TOKENS.c.expires_at < now - timedelta(days=1))
        )
    )
    raw = secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(_TOKENS).values(
            token_hash=token_hash(raw),
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            used_at=None,
        )
    )
    return raw


def _usable(raw: str, purpose: str) -> sa.ColumnElement[bool]:
    return (
        (_TOKENS.c.token_hash == token_hash(raw))
        & (_TOKENS.c.purpose == purpose)
        & _TOKENS.c.used_at.is_(None)
        & (_TOKENS.c.expires_at > now_utc())
    )


def peek(db: Engine, raw: str, purpose: str) -> str | None:
    """The user id a usable token belongs to, without using it (to show the form)."""
    if not raw or len(raw) > _MAX_TOKEN_LENGTH:
        return None
    with db.connect() as conn:
        row = conn.execute(sa.select(_TOKENS.c.user_id).where(_usable(raw, purpose))).first()
    return row.user_id if row is not None else None


def consume(conn: Connection, raw: str, purpose: str) -> str:
    """Mark the token used and return its user id; raises ``invalid_link`` when it is
    unknown, used, expired or for another purpose."""
    invalid = IdentityError(
        "invalid_link", "This link is not valid, was already used, or has expired."
    )
    if not raw or len(raw) > _MAX_TOKEN_LENGTH:
        raise invalid
    row = conn.execute(sa.select(_TOKENS.c.user_id).where(_usable(raw, purpose))).first()
    if row is None:
        raise invalid
    result = conn.execute(sa.update(_TOKENS).where(_usable(raw, purpose)).values(used_at=now_utc()))
    if result.rowcount != 1:  # another request used it between the two statements
        raise invalid
    return row.user_id
