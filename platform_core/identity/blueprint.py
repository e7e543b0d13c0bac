"""The identity pages' blueprint and what every page shares.

* ``bp``: the ``identity`` blueprint at ``/auth``; its views live in ``*_views.py``.
* Every POST to it passes :func:`~platform_core.identity.csrf.check_csrf` first.
* Every answer carries headers that keep the pages out of frames, caches and referrers
  (reset and verification links carry secrets in their path).
* :func:`page` renders a template with the shared context; :class:`FieldError` is one line
  of the error summary in ``identity/base.html``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from platform_core.identity.csrf import check_csrf
from platform_core.identity.throttle import Throttle, mail_requests_rule

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


def throttle() -> Throttle:
    """The rate limits shared by every process."""
    found = services().throttle
    assert found is not None  # an app's services always have the database
    return found


def too_many_requests(wait_s: int) -> Response:
    """The 429 page for a caller over a rate limit, with ``Retry-After``."""
    minutes = max(1, math.ceil(wait_s / 60))
    unit = "minute" if minutes == 1 else "minutes"
    response = page(
        "identity/message.html",
        429,
        title="Too many attempts",
        errors=[
            FieldError(
                f"There were too many attempts from your network. Try again in {minutes} {unit}."
            )
        ],
    )
    response.headers["Retry-After"] = str(wait_s)
    return response


def over_mail_request_limit() -> Response | None:
    """Count one request that mails a stranger-typed address (sign-up, a new link, a reset)
    from this caller; the 429 page when the caller is over ``mail_ip_max_requests``."""
    wait = throttle().take(mail_requests_rule(services().settings), caller())
    return None if wait is None else too_many_requests(wait)


def caller() -> str:
    """Who a per-address rate limit counts: the caller's address."""
    return remote_addr() or "unknown"


def remote_addr() -> str | None:
    """The caller's address: the socket's peer, or with ``trusted_proxies`` set, the
    address that many hops back in ``X-Forwarded-For``."""
    return request.remote_addr
