"""The identity pages' blueprint and what every page shares.

* ``bp``: the ``identity`` blueprint at ``/auth``; its views live in ``*_views.py``.
* Every POST to it passes :func:`~platform_core.identity.csrf.check_csrf` first.
* Every answer carries headers that keep the pages out of frames, caches and referrers
  (reset and verification links carry secrets in their path).
* :func:`page` renders a template with the shared context; :class:`FieldError` is one line
  of the error summary in ``identity/base.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from platform_core.identity.csrf import check_csrf

if TYPE_CHECKING:
    from platform_core.app import Core
    from platform_core.identity.services import IdentityServices

bp = Blueprint("identity", __name__, url_prefix="/auth", template_folder="templates")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True)
class FieldError:
    """One entry of a page's error summary; ``field`` is the id of the input it is about
    (the summary links to it), or None for the form as a whole."""

    message: str
    field: str | None = None


@bp.before_request
def _csrf_on_post() -> None:
    if request.method == "POST":
        check_csrf()


@bp.errorhandler(400)
def _bad_request(exc: HTTPException) -> Response:
    """A refused form (usually a stale or missing CSRF token) as a page, not a bare error."""
    return page(
        "identity/message.html",
        400,
        title="The form could not be sent",
        errors=[FieldError(exc.description or "The request was not valid.")],
    )


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def core() -> Core:
    """The app's core services."""
    return current_app.extensions["fireside"]


def services() -> IdentityServices:
    """The identity module's services (mailer, settings)."""
    return current_app.extensions["fireside.identity"]


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render an identity page; ``errors`` (a list of :class:`FieldError`) fills the error
    summary, ``notice`` the status message."""
    return Response(render_template(template, **context), status, mimetype="text/html")


def remote_addr() -> str | None:
    """The client address as the WSGI server saw it (a proxy's ``X-Forwarded-For`` is
    trusted only when the deployment wraps the app in ``ProxyFix``)."""
    return request.remote_addr
