"""The text of every mail the identity module sends.

Links are absolute (``settings.base_url``) because mail is read outside the browser session
that asked for it, and built from fixed paths so the CLI, which has no request, can send them
too. Each function returns ``(subject, body)``.
"""

from __future__ import annotations

from datetime import datetime

from platform_core.config import Settings


def _link(settings: Settings, path: str) -> str:
    return settings.base_url.rstrip("/") + path


def _hours(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    minutes = max(1, seconds // 60)
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


def verify_email(settings: Settings, token: str) -> tuple[str, str]:
    """The sign-up confirmation mail."""
    link = _link(settings, f"/auth/verify/{token}")
    return (
        "Confirm your email address for Fireside",
        "Welcome to Fireside.\n\n"
        f"To confirm your email address and activate your account, open this link:\n\n{link}\n\n"
        f"The link works once and expires in {_hours(settings.password_reset_ttl_s)}.\n"
        "If you did not sign up, ignore this message: no account will be activated.\n",
    )


def already_registered(settings: Settings) -> tuple[str, str]:
    """Sent instead of a confirmation when someone signs up with an address that already has
    an account (the sign-up page answers the same either way, so it reveals nothing)."""
    return (
        "Someone tried to sign up to Fireside with your address",
        "Someone, perhaps you, tried to create a Fireside account with this email address, "
        "but you already have one.\n\n"
        f"Sign in: {_link(settings, '/auth/login')}\n"
        f"Forgot your password? {_link(settings, '/auth/reset')}\n\n"
        "If it was not you, you can ignore this message.\n",
    )


def reset_password(settings: Settings, token: str) -> tuple[str, str]:
    """The password-reset mail."""
    link = _link(settings, f"/auth/reset/{token}")
    return (
        "Reset your Fireside password",
        f"To choose a new password, open this link:\n\n{link}\n\n"
        f"The link works once and expires in {_hours(settings.password_reset_ttl_s)}.\n"
        "If you did not ask for this, ignore this message: your password stays the same.\n",
    )


def invitation(settings: Settings, token: str, role: str) -> tuple[str, str]:
    """Sent to an account an administrator created without a password."""
    link = _link(settings, f"/auth/reset/{token}")
    return (
        "Your Fireside account",
        f"An administrator created a Fireside account ({role}) for this email address.\n\n"
        f"Choose your password here:\n\n{link}\n\n"
        f"The link works once and expires in {_hours(settings.password_reset_ttl_s)}; after "
        f"that use 'Forgot your password?' on {_link(settings, '/auth/login')}.\n",
    )


def password_changed(settings: Settings) -> tuple[str, str]:
    """Sent after every password change or reset, so an owner notices a takeover."""
    return (
        "Your Fireside password was changed",
        "The password of your Fireside account was just changed, and every device and app "
        "signed in to it was signed out.\n\n"
        "If this was not you, reset your password now: "
        f"{_link(settings, '/auth/reset')}\n",
    )


def account_locked(settings: Settings, until: datetime) -> tuple[str, str]:
    """Sent when failed logins lock an account (the login page itself does not say so, so
    that it does not reveal which addresses have accounts)."""
    return (
        "Sign-in to your Fireside account is paused",
        f"After {settings.login_max_failures} failed sign-in attempts in a row, sign-in to your "
        f"account is paused until {until:%Y-%m-%d %H:%M} UTC.\n\n"
        "If this was you, wait or reset your password (which also lifts the pause): "
        f"{_link(settings, '/auth/reset')}\n"
        "If it was not you, someone may be guessing your password; choose a strong one.\n",
    )
