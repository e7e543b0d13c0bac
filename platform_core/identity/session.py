"""Browser sessions: who is signed in on this request.

The Flask session (a cookie signed with ``secret_key``) carries the user id, the user's
``token_generation`` at login, and a random session id whose SHA-256 is a row of
``identity_session``. :func:`current_user` trusts the cookie only while

* the session row exists and has not expired (logging out deletes it, so a copied cookie
  dies with the logout),
* the generation still matches the user's (a password change or suspension bumps it, ending
  every session), and
* the account is ``active``.

The result is cached on ``flask.g`` for the rest of the request.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, g, session, url_for
from sqlalchemy.engine import Engine

from platform_core.auth.secrets import digest
from platform_core.config import Settings
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.identity.csrf import rotate_csrf_token
from platform_core.identity.schema import SessionRow
from platform_core.identity.users import User, get_user

_KEYS = ("uid", "gen", "sid")
_SESSIONS = SessionRow.__table__
_UNSET = object()


def _db() -> Engine:
    return current_app.extensions["fireside"].db


def _settings() -> Settings:
    return current_app.extensions["fireside"].settings


def _hash(sid: str) -> str:
    return digest(sid)


def current_user() -> User | None:
    """The signed-in user of this request, or None (not signed in, logged out elsewhere,
    password changed since, account no longer active, or session expired)."""
    cached = g.get("_identity_user", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    user = _load_current_user()
    g._identity_user = user
    return user


def _load_current_user() -> User | None:
    uid, gen, sid = (session.get(k) for k in _KEYS)
    if not isinstance(uid, str) or not isinstance(gen, int) or not isinstance(sid, str):
        return None
    db = _db()
    with db.connect() as conn:
        alive = conn.execute(
            sa.select(_SESSIONS.c.user_id).where(
                _SESSIONS.c.id_hash == _hash(sid),
                _SESSIONS.c.user_id == uid,
                _SESSIONS.c.expires_at > now_utc(),
            )
        ).first()
        user = get_user(db, uid, conn=conn) if alive is not None else None
    if user is None or user.token_generation != gen or not user.is_active:
        return None
    return user


def session_id_hash() -> str | None:
    """An opaque id of this browser session (the key of its ``identity_session`` row), for
    tying other state, such as online-access refresh tokens, to the session. None when no
    one is signed in."""
    sid = session.get("sid")
    return _hash(sid) if isinstance(sid, str) and current_user() is not None else None


def session_is_active(db: Engine, id_hash: str) -> bool:
    """Whether the session with this :func:`session_id_hash` is still signed in."""
    with db.connect() as conn:
        row = conn.execute(
            sa.select(_SESSIONS.c.user_id).where(
                _SESSIONS.c.id_hash == id_hash, _SESSIONS.c.expires_at > now_utc()
            )
        ).first()
    return row is not None


def log_in(user: User) -> None:
    """Start a session for ``user`` (who has just proved who they are).

    Other session keys (an OAuth request waiting for the login, say) are kept; the CSRF
    token is replaced. Expired session rows of the user are swept here.
    """
    now = now_utc()
    sid = secrets.token_urlsafe(32)
    with write_transaction(_db()) as conn:
        conn.execute(
            sa.delete(_SESSIONS).where(
                _SESSIONS.c.user_id == user.id, _SESSIONS.c.expires_at <= now
            )
        )
        conn.execute(
            sa.insert(_SESSIONS).values(
                id_hash=_hash(sid),
                user_id=user.id,
                created_at=now,
                expires_at=now + timedelta(seconds=_settings().session_ttl_s),
            )
        )
    old_sid = session.get("sid")
    if isinstance(old_sid, str):
        _delete_session(old_sid)
    session["uid"] = user.id
    session["gen"] = user.token_generation
    session["sid"] = sid
    rotate_csrf_token()
    g._identity_user = user


def _delete_session(sid: str) -> None:
    with write_transaction(_db()) as conn:
        conn.execute(sa.delete(_SESSIONS).where(_SESSIONS.c.id_hash == _hash(sid)))


def log_out() -> None:
    """End this browser session: its row is deleted and the cookie emptied."""
    sid = session.get("sid")
    if isinstance(sid, str):
        _delete_session(sid)
    session.clear()
    g._identity_user = None


def log_out_everywhere(db: Engine, user_id: str) -> None:
    """Delete every session row of a user (used after a password reset)."""
    with write_transaction(db) as conn:
        conn.execute(sa.delete(_SESSIONS).where(_SESSIONS.c.user_id == user_id))


def login_url(next_path: str) -> str:
    """The login page that sends the user on to ``next_path`` (a path on this server, such
    as ``/oauth/authorize?...``) once signed in."""
    try:
        base = url_for("identity.login")
    except RuntimeError:  # outside a request and app context
        base = "/auth/login"
    return f"{base}?{urlencode({'next': next_path})}"
