"""Self-service sign-up and email confirmation pages.

``/auth/signup`` creates a ``pending`` account (patient, guardian or practitioner) and mails a
confirmation link; the answer is the same whether or not the address already had an account.
``/auth/verify/<token>`` shows a button that confirms the address (a POST, so a mail scanner
that fetches links does not use the link up); ``/auth/verify`` mails a new link.
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

ROLE_CHOICES = (
    ("patient", "Patient: my own health record"),
    ("guardian", "Parent or guardian: a child's health record"),
    ("practitioner", "Health professional (an administrator checks your credentials)"),
)
CHECK_INBOX = (
    "Check your inbox: we sent a link to confirm your email address. "
    "It works once and expires soon."
)
_FIELD_OF = {
    "invalid_email": "email",
    "weak_password": "password",
    "unknown_role": "role-patient",
}


def _signup_form(status: int, **context: object) -> Response:
    return page(
        "identity/signup.html",
        status,
        title="Create an account",
        role_choices=ROLE_CHOICES,
        **context,
    )


@bp.get("/signup")
def signup() -> Response:
    """The sign-up form."""
    return _signup_form(200, email="", role="patient")


@bp.post("/signup")
def signup_post() -> Response:
    """Create the account (or not, silently, when the address is taken) and mail the link."""
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    confirm = request.form.get("password_confirm", "")
    role = request.form.get("role", "")
    errors = []
    if not email:
        errors.append(FieldError("Enter your email address.", "email"))
    if not password:
        errors.append(FieldError("Choose a password.", "password"))
    elif password != confirm:
        errors.append(FieldError("The two passwords are not the same.", "password-confirm"))
    if not errors and (refused := over_mail_request_limit()) is not None:
        return refused
    if not errors:
        try:
            accounts.sign_up(core().db, services(), email=email, password=password, role=role)
        except IdentityError as exc:
            errors.append(FieldError(exc.message, _FIELD_OF.get(exc.code)))
    if errors:
        return _signup_form(400, email=email, role=role, errors=errors)
    return page("identity/message.html", title="Check your inbox", message=CHECK_INBOX)


@bp.get("/verify/<token>")
def verify(token: str) -> Response:
    """Ask the user to confirm (the link is not used up by merely opening it)."""
    if links.peek(core().db, token, "verify_email") is None:
        return _invalid_link()
    return page("identity/verify.html", title="Confirm your email address", token=token)


@bp.post("/verify/<token>")
def verify_post(token: str) -> Response:
    """Confirm the address and activate the account."""
    try:
        user = accounts.verify_email(core().db, token)
    except IdentityError:
        return _invalid_link()
    notice = "Your email address is confirmed. You can sign in now."
    if user.role == "practitioner" and user.verified_at is None:
        notice += " An administrator will check your credentials before you can prescribe."
    return page(
        "identity/message.html", title="Email address confirmed", message=notice, show_login=True
    )


def _invalid_link() -> Response:
    return page(
        "identity/message.html",
        404,
        title="This link does not work",
        errors=[FieldError("This link is not valid, was already used, or has expired.")],
        show_resend=True,
    )


@bp.get("/verify")
def verify_resend() -> Response:
    """The form that mails a new confirmation link."""
    return page(
        "identity/email_only.html",
        title="Send a new confirmation link",
        email="",
        action="identity.verify_resend_post",
        button="Send the link",
        button_id="resend-button",
    )


@bp.post("/verify")
def verify_resend_post() -> Response:
    """Mail a new link if the address has a pending account; answer the same in any case."""
    email = request.form.get("email", "").strip()
    if not email:
        return page(
            "identity/email_only.html",
            400,
            title="Send a new confirmation link",
            email="",
            action="identity.verify_resend_post",
            button="Send the link",
            button_id="resend-button",
            errors=[FieldError("Enter your email address.", "email")],
        )
    if (refused := over_mail_request_limit()) is not None:
        return refused
    accounts.resend_verification(core().db, services(), email)
    return page(
        "identity/message.html",
        title="Check your inbox",
        message="If this address has an account waiting for confirmation, we sent it a new link.",
    )
