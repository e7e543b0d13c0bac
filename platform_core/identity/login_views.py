"""The sign-in pages: ``/auth/login`` (email and password), ``/auth/login/totp`` (the second
step for accounts with TOTP) and ``/auth/logout`` (POST).

Every attempt, success or failure, is audited (``kind="login"``). ``next`` is followed only
when it is a path on this server (:mod:`platform_core.identity.redirects`). Between the two
steps of a TOTP login the session holds only a short-lived ``identity_2fa`` marker; the user
is not signed in until the code is right.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from flask import redirect, request, session, url_for
from werkzeug.wrappers import Response

from platform_core.audit.records import AuditRecord
from platform_core.identity import authentication, messages, totp
from platform_core.identity.authentication import LoginCheck
from platform_core.identity.blueprint import (
    FieldError,
    bp,
    caller,
    core,
    page,
    remote_addr,
    services,
    throttle,
    too_many_requests,
)
from platform_core.identity.redirects import safe_next
from platform_core.identity.session import current_user, log_in, log_out
from platform_core.identity.throttle import login_failures_rule
from platform_core.identity.users import User, get_user

GENERIC_FAILURE = (
    "The email address or password is not correct. After several failed attempts, "
    "sign-in to an account is paused for a while."
)
TOTP_FAILURE = "The code is not correct. Enter the 6-digit code your authenticator app shows now."
THROTTLED = "too many failed logins from this address"
"""The audit description of a login refused by the per-address limit."""
PENDING_2FA_KEY = "identity_2fa"
PENDING_2FA_TTL_S = 300
"""How long the TOTP step waits for its code after the password was accepted."""


def default_next() -> str:
    """Where a login without ``next`` lands."""
    return url_for("identity.account")


def _who(user: User) -> str:
    return user.fhir_user or f"User/{user.id}"


def audit_login(outcome: str, email: str, *, user: User | None, subtype: str, why: str) -> None:
    """Record one login attempt (``outcome`` ``0`` success, ``4`` failure)."""
    core().audit.record(
        AuditRecord(
            kind="login",
            action="E",
            outcome=outcome,
            subtype=subtype,
            who=_who(user) if user is not None and outcome == "0" else None,
            remote_addr=remote_addr(),
            entity=email,
            description=why or None,
        )
    )


def _login_form(
    status: int,
    *,
    email: str = "",
    next_path: str = "",
    errors: Sequence[FieldError] = (),
    **extra: Any,
) -> Response:
    return page(
        "identity/login.html",
        status,
        title="Sign in",
        email=email,
        next_path=next_path,
        errors=list(errors),
        **extra,
    )


@bp.get("/login")
def login() -> Response:
    """The sign-in form."""
    next_path = safe_next(request.args.get("next"), "")
    notice = "You are signed out." if request.args.get("signed_out") else None
    return _login_form(200, next_path=next_path, notice=notice)


@bp.post("/login")
def login_post() -> Response:
    """Check the password; sign in, or go on to the TOTP step, or show the form again."""
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    next_path = safe_next(request.form.get("next"), "")
    missing = []
    if not email:
        missing.append(FieldError("Enter your email address.", "email"))
    if not password:
        missing.append(FieldError("Enter your password.", "password"))
    if missing:
        return _login_form(400, email=email, next_path=next_path, errors=missing)
    svc = services()
    wait = throttle().wait(login_failures_rule(svc.settings), caller())
    if wait is not None:
        audit_login("4", email.lower(), user=None, subtype="password", why=THROTTLED)
        return too_many_requests(wait)
    result = authentication.check_password_login(core().db, svc.settings, email, password)
    if result.outcome == authentication.NEEDS_TOTP:
        assert result.user is not None
        session[PENDING_2FA_KEY] = {
            "uid": result.user.id,
            "gen": result.user.token_generation,
            "next": next_path,
            "at": int(time.time()),
        }
        return redirect(url_for("identity.login_totp"), 303)
    if result.outcome == authentication.OK:
        assert result.user is not None
        audit_login("0", result.user.email, user=result.user, subtype="password", why="")
        log_in(result.user)
        return redirect(next_path or default_next(), 303)
    return _refuse(result, email, next_path)


def _refuse(result: LoginCheck, email: str, next_path: str) -> Response:
    audit_login("4", email.lower(), user=result.user, subtype="password", why=result.reason)
    if result.outcome == authentication.FAILED:
        throttle().hit(login_failures_rule(services().settings), caller())
    if result.locked_until is not None and result.user is not None:
        svc = services()
        svc.send(result.user.email, messages.account_locked(svc.settings, result.locked_until))
    if result.outcome == authentication.PENDING:
        error = FieldError(
            "Confirm your email address first: follow the link in the mail we sent you. "
            "No mail? Ask for a new link below."
        )
        return _login_form(403, email=email, next_path=next_path, errors=[error], show_resend=True)
    if result.outcome == authentication.SUSPENDED:
        error = FieldError("This account is suspended. Contact your administrator.")
        return _login_form(403, email=email, next_path=next_path, errors=[error])
    return _login_form(
        401, email=email, next_path=next_path, errors=[FieldError(GENERIC_FAILURE, "email")]
    )


def _pending_2fa() -> tuple[User, str] | None:
    """The user waiting at the TOTP step and their ``next``, or None when there is none
    (expired, or the account changed since the password was accepted)."""
    pending = session.get(PENDING_2FA_KEY)
    if not isinstance(pending, dict):
        return None
    if int(time.time()) - int(pending.get("at", 0)) > PENDING_2FA_TTL_S:
        session.pop(PENDING_2FA_KEY, None)
        return None
    user = get_user(core().db, str(pending.get("uid")))
    if user is None or user.token_generation != pending.get("gen") or not user.is_active:
        session.pop(PENDING_2FA_KEY, None)
        return None
    return user, str(pending.get("next") or "")


@bp.get("/login/totp")
def login_totp() -> Response:
    """The second step: ask for the authenticator code."""
    if _pending_2fa() is None:
        return redirect(url_for("identity.login"), 303)
    return page("identity/login_totp.html", title="Enter your code")


@bp.post("/login/totp")
def login_totp_post() -> Response:
    """Check the code; sign in or count a failure."""
    pending = _pending_2fa()
    if pending is None:
        return redirect(url_for("identity.login"), 303)
    user, next_path = pending
    db = core().db
    code = request.form.get("code", "")
    rule = login_failures_rule(services().settings)
    wait = throttle().wait(rule, caller())
    if wait is not None:
        audit_login("4", user.email, user=user, subtype="totp", why=THROTTLED)
        return too_many_requests(wait)
    if not authentication.is_locked(db, user.id) and totp.verify_login_code(
        db, core().auth.sealer, user.id, code
    ):
        authentication.record_success(db, user.id)
        session.pop(PENDING_2FA_KEY, None)
        audit_login("0", user.email, user=user, subtype="totp", why="")
        log_in(user)
        return redirect(next_path or default_next(), 303)
    svc = services()
    throttle().hit(rule, caller())
    locked = authentication.record_failure(db, svc.settings, user.id)
    audit_login("4", user.email, user=user, subtype="totp", why="wrong code")
    if locked is not None:
        session.pop(PENDING_2FA_KEY, None)
        svc.send(user.email, messages.account_locked(svc.settings, locked))
        return _login_form(401, errors=[FieldError(GENERIC_FAILURE, "email")])
    return page(
        "identity/login_totp.html",
        401,
        title="Enter your code",
        errors=[FieldError(TOTP_FAILURE, "code")],
    )


@bp.post("/logout")
def logout() -> Response:
    """Sign out of this browser (other devices stay signed in)."""
    user = current_user()
    if user is not None:
        core().audit.record(
            AuditRecord(
                kind="logout",
                action="E",
                outcome="0",
                subtype="password",
                who=_who(user),
                remote_addr=remote_addr(),
                entity=user.email,
            )
        )
    log_out()
    return redirect(url_for("identity.login", signed_out=1), 303)
