"""Password reset pages.

``/auth/reset`` asks for an email address and answers the same whether or not it has an
account. ``/auth/reset/<token>`` shows the new-password form; posting it uses the link up,
sets the password, ends every session and access token of the account and lifts a lockout.
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from platform_core.identity import accounts, links
from platform_core.identity.blueprint import (
    FieldError,
    bp,
    core,
    over_mail_request_limit,
    page,
    services,
)
from platform_core.identity.errors import IdentityError

SENT = (
    "If this address has an account, we sent it a link to choose a new password. "
    "The link works once and expires soon."
)


def _request_form(status: int, errors: list[FieldError] | None = None) -> Response:
    return page(
        "identity/email_only.html",
        status,
        title="Reset your password",
        email="",
        action="identity.reset_request_post",
        button="Send me a reset link",
        button_id="reset-request-button",
        errors=errors or [],
    )


@bp.get("/reset")
def reset_request() -> Response:
    """The form asking for the account's email address."""
    return _request_form(200)


@bp.post("/reset")
def reset_request_post() -> Response:
    """Mail a link if the address has an account; answer the same either way."""
    email = request.form.get("email", "").strip()
    if not email:
        return _request_form(400, [FieldError("Enter your email address.", "email")])
    if (refused := over_mail_request_limit()) is not None:
        return refused
    accounts.request_password_reset(core().db, services(), email)
    return page("identity/message.html", title="Check your inbox", message=SENT)


def _invalid_link() -> Response:
    return page(
        "identity/message.html",
        404,
        title="This link does not work",
        errors=[FieldError("This link is not valid, was already used, or has expired.")],
        show_reset=True,
    )


@bp.get("/reset/<token>")
def reset(token: str) -> Response:
    """The new-password form (opening it does not use the link up)."""
    if links.peek(core().db, token, "reset_password") is None:
        return _invalid_link()
    return page("identity/new_password.html", title="Choose a new password", token=token)


@bp.post("/reset/<token>")
def reset_post(token: str) -> Response:
    """Set the new password."""
    password = request.form.get("password", "")
    confirm = request.form.get("password_confirm", "")
    error: FieldError | None = None
    if password != confirm:
        error = FieldError("The two passwords are not the same.", "password-confirm")
    else:
        try:
            accounts.reset_password(core().db, services(), token, password)
        except IdentityError as exc:
            if exc.code == "invalid_link":
                return _invalid_link()
            error = FieldError(exc.message, "password")
    if error is not None:
        return page(
            "identity/new_password.html",
            400,
            title="Choose a new password",
            token=token,
            errors=[error],
        )
    return page(
        "identity/message.html",
        title="Password changed",
        message="Your password is changed and every device was signed out. Sign in again.",
        show_login=True,
    )
