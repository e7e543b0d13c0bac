"""The signed-in user's own pages: ``/auth/account`` (overview), ``/auth/password`` (change
the password) and ``/auth/totp`` (turn the TOTP second factor on or off).

Changing the password ends every other session and access token (the generation bump) and
signs this browser in again with the new generation.
"""

from __future__ import annotations

from flask import redirect, request, session, url_for
from werkzeug.wrappers import Response

from platform_core.identity import accounts, authentication, totp
from platform_core.identity.blueprint import FieldError, bp, core, page, services
from platform_core.identity.errors import IdentityError
from platform_core.identity.session import current_user, log_in, login_url
from platform_core.identity.users import User

TOTP_PENDING_KEY = "identity_totp_pending"
"""The secret being enrolled, kept in the session until the user confirms it with a code."""


def _here() -> str:
    query = request.query_string.decode()
    return request.path + (f"?{query}" if query else "")


def _require_user() -> User | Response:
    user = current_user()
    if user is None:
        return redirect(login_url(_here()), 303)
    return user


@bp.get("/account")
def account() -> Response:
    """Who is signed in, and links to the account's settings."""
    user = _require_user()
    if isinstance(user, Response):
        return user
    notice = {
        "password": "Your password is changed.",
        "totp-on": "Two-step sign-in is on.",
        "totp-off": "Two-step sign-in is off.",
    }.get(request.args.get("done", ""))
    return page("identity/account.html", title="Your account", user=user, notice=notice)


@bp.get("/password")
def password() -> Response:
    """The change-password form."""
    user = _require_user()
    if isinstance(user, Response):
        return user
    return page("identity/change_password.html", title="Change your password")


@bp.post("/password")
def password_post() -> Response:
    """Check the current password, set the new one, sign this browser in again."""
    user = _require_user()
    if isinstance(user, Response):
        return user
    db = core().db
    current = request.form.get("current_password", "")
    new = request.form.get("password", "")
    confirm = request.form.get("password_confirm", "")
    error: FieldError | None = None
    if not authentication.check_current_password(db, user.id, current):
        error = FieldError("Your current password is not correct.", "current-password")
    elif new != confirm:
        error = FieldError("The two new passwords are not the same.", "password-confirm")
    else:
        try:
            updated = accounts.change_password(db, services(), user.id, new)
        except IdentityError as exc:
            error = FieldError(exc.message, "password")
    if error is not None:
        return page(
            "identity/change_password.html", 400, title="Change your password", errors=[error]
        )
    log_in(updated)
    return redirect(url_for("identity.account", done="password"), 303)


@bp.get("/totp")
def totp_setup() -> Response:
    """Show a new secret (and its otpauth URI) to add to an authenticator app."""
    user = _require_user()
    if isinstance(user, Response):
        return user
    if user.totp_enabled:
        return page("identity/totp_disable.html", title="Two-step sign-in")
    secret = session.get(TOTP_PENDING_KEY)
    if not isinstance(secret, str):
        secret = totp.new_secret()
        session[TOTP_PENDING_KEY] = secret
    return _setup_page(user, secret, 200)


def _setup_page(
    user: User, secret: str, status: int, errors: list[FieldError] | None = None
) -> Response:
    return page(
        "identity/totp_setup.html",
        status,
        title="Turn on two-step sign-in",
        secret=secret,
        uri=totp.provisioning_uri(secret, user.email),
        errors=errors or [],
    )


@bp.post("/totp")
def totp_confirm() -> Response:
    """Turn TOTP on once the code shows the app holds the secret."""
    user = _require_user()
    if isinstance(user, Response):
        return user
    secret = session.get(TOTP_PENDING_KEY)
    if user.totp_enabled or not isinstance(secret, str):
        return redirect(url_for("identity.totp_setup"), 303)
    try:
        totp.enable(core().db, core().auth.sealer, user.id, secret, request.form.get("code", ""))
    except IdentityError as exc:
        return _setup_page(user, secret, 400, [FieldError(exc.message, "code")])
    session.pop(TOTP_PENDING_KEY, None)
    return redirect(url_for("identity.account", done="totp-on"), 303)


@bp.post("/totp/disable")
def totp_disable() -> Response:
    """Turn TOTP off; the current password is asked again."""
    user = _require_user()
    if isinstance(user, Response):
        return user
    db = core().db
    if not authentication.check_current_password(db, user.id, request.form.get("password", "")):
        return page(
            "identity/totp_disable.html",
            400,
            title="Two-step sign-in",
            errors=[FieldError("Your password is not correct.", "password")],
        )
    totp.disable(db, user.id)
    return redirect(url_for("identity.account", done="totp-off"), 303)
