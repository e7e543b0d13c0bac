"""Cross-site request forgery protection for the server-rendered forms.

A random token is kept in the (signed) session; every form carries it in a hidden
``csrf_token`` field and every POST is checked against it with a constant-time comparison.
A page on another site cannot read the token, so it cannot forge a POST that passes. The
session cookie is also ``SameSite=Lax``; the token is the defence that does not depend on
the browser. Logging in gives a fresh token (see ``session.log_in``).
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

SESSION_KEY = "csrf"
FIELD = "csrf_token"
"""The form field every POST form must carry."""


def csrf_token() -> str:
    """The session's CSRF token, created on first use (also ``csrf_token()`` in Jinja)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate_csrf_token() -> str:
    """Replace the token (on login and logout, so a token seen before does not carry over)."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


def check_csrf() -> None:
    """Abort with 400 unless the request's ``csrf_token`` form field matches the session's."""
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD, "")
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(expected.encode(), sent.encode())
    ):
        abort(400, description="The form has expired or did not come from this site. Reload it.")
