"""People who sign in: accounts, roles, passwords, sign-up, verification, reset, lockout,
TOTP, and the server-rendered sign-in pages.

Public API for other modules (the OAuth server, the admin tools):

* :mod:`~platform_core.identity.users`: ``User``, ``create_user``, ``get_user``,
  ``find_user_by_email``, ``link_patient``, ``patients_of``, ``IdentityError``.
* :mod:`~platform_core.identity.session`: ``current_user``, ``login_url``, ``log_in``,
  ``log_out``.
* :mod:`~platform_core.identity.csrf`: ``csrf_token`` (also in Jinja), ``check_csrf``.
* the layout ``identity/base.html`` with ``{% block content %}``.

``init_app`` sets the session key and cookie flags, registers the ``/auth`` pages and the
admin JSON API at ``/auth/admin``, and keeps the module's state (mailer, settings) in
``app.extensions["fireside.identity"]``. See ``docs/identity.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from platform_core.app import Core


def init_app(app: Flask, core: Core) -> None:
    """Register the identity pages and services on ``app``."""
    # Imported here so that importing ``platform_core.identity.users`` alone (CLI, OAuth
    # server) does not pull in the views.
    from platform_core.identity import (  # noqa: F401  (modules that register views)
        account_views,
        login_views,
        reset_views,
        signup_views,
    )
    from platform_core.identity.admin_api import admin_bp
    from platform_core.identity.blueprint import bp
    from platform_core.identity.csrf import csrf_token
    from platform_core.identity.services import IdentityServices
    from platform_core.identity.session import current_user
    from platform_core.key_files import load_or_create_secret_key

    settings = core.settings
    app.secret_key = settings.secret_key or load_or_create_secret_key()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.base_url.lower().startswith("https://")
    app.extensions.setdefault("fireside", core)
    app.extensions["fireside.identity"] = IdentityServices(settings, core=core)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["identity_user"] = current_user
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
