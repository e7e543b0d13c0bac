"""``/oauth2/authorize`` (GET, and POST for SMART ``authorize-post``): validate, sign in,
consent, pick a patient, redirect with a code.

1. authlib validates the request (``code_grant``). An error the client may see goes back to
   its validated ``redirect_uri``; one about the client or the redirect URI itself is shown
   here as a page and never redirected (no open redirect).
2. No one signed in: off to the login page, which comes back to this same request
   (``prompt=none`` answers ``login_required`` instead).
3. The consent page lists the scopes in plain words, with the patient picker when a
   standalone launch asks for ``launch/patient``. Its form posts back every authorization
   parameter (validated afresh), the CSRF token, ``_decision`` and ``_patient``.
4. Approve: the code is saved with the launch context and the browser session (for
   ``online_access``) and the user redirected with ``code`` and ``state``. Deny:
   ``error=access_denied``.

The consent page may not be framed (clickjacking) and is never cached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request

from platform_core.audit.records import AuditRecord
from platform_core.identity.blueprint import remote_addr
from platform_core.identity.csrf import check_csrf
from platform_core.identity.session import current_user, login_url, session_id_hash
from platform_core.identity.users import User
from platform_core.oauth import patient_picker, smart_scopes
from platform_core.oauth.code_grant import Approval
from platform_core.oauth.launch_context import Launch, LaunchContext

if TYPE_CHECKING:
    from platform_core.app import Core
    from platform_core.oauth.server import FiresideAuthorizationServer

bp = Blueprint("oauth", __name__, template_folder="templates")

OWN_FIELDS = frozenset({"csrf_token", "_decision", "_patient", "_q"})
"""Form fields of the consent page, not authorization parameters."""


def _server() -> FiresideAuthorizationServer:
    return current_app.extensions["fireside_oauth"]  # type: ignore[no-any-return]


def _core() -> Core:
    return current_app.extensions["fireside"]  # type: ignore[no-any-return]


def authorization_params() -> list[tuple[str, str]]:
    """The request's authorization parameters (query and form), without the page's own."""
    return [(k, v) for k, v in request.values.items(multi=True) if k not in OWN_FIELDS]


PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # No ``form-action``: browsers apply it to the redirect that follows the consent POST,
    # which goes to the app's (registered, exact) redirect URI on another origin.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
"""Headers of the consent and error pages: never framed (clickjacking), cached or leaked."""


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _error(server: FiresideAuthorizationServer, error: OAuth2Error) -> Response:
    """Redirect an error to a validated redirect URI, or show it (never redirect blindly)."""
    if error.redirect_uri:
        return server.handle_error_response(None, error)  # type: ignore[no-any-return]
    return _page(
        "oauth/error.html",
        400,
        title="This sign-in request cannot be completed",
        error=error.error,
        description=error.get_error_description(),
    )


def _needs_picker(scopes: list[str], launch: Launch | None) -> bool:
    return "launch/patient" in scopes and (launch is None or launch.context.patient is None)


@bp.route("/oauth2/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    """The authorization endpoint; see the module docstring."""
    server = _server()
    decision = request.form.get("_decision") if request.method == "POST" else None
    if decision is not None:
        check_csrf()
    user = current_user()
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _error(server, error)
    prompt = request.values.get("prompt", "")
    if user is None:
        if "none" in prompt.split():
            return _error(server, _redirected("login_required", grant))
        target = "/oauth2/authorize?" + urlencode(authorization_params())
        return redirect(login_url(target))  # type: ignore[return-value]
    if "none" in prompt.split():
        return _error(server, _redirected("consent_required", grant))
    scopes = smart_scopes.split(grant.request.scope)
    launch: Launch | None = grant.request.launch
    picker = _needs_picker(scopes, launch)
    if decision is None:
        return _consent(grant, user, scopes, picker)
    if decision == "deny":
        _audit_decision("deny", user, grant, scopes, None)
        return server.create_authorization_response(grant_user=None, grant=grant)  # type: ignore[no-any-return]
    if decision != "approve":
        abort(400, description="Unknown decision.")
    patient: str | None = None
    if picker:
        patient = request.form.get("_patient") or None
        if patient is None or not patient_picker.may_choose(_core(), user, patient):
            return _consent(
                grant,
                user,
                scopes,
                picker,
                errors=[
                    {"field": "patient-choice", "message": "Choose one of the patients listed."}
                ],
                status=400,
            )
    if launch is not None:
        context = launch.context
        if patient is not None:
            context = LaunchContext(patient, context.encounter, context.fhir_context, False)
    else:
        context = LaunchContext(patient=patient, need_patient_banner=True)
    grant.request.approval = Approval(context, session_id_hash())
    _audit_decision("approve", user, grant, scopes, context.patient)
    return server.create_authorization_response(grant_user=user, grant=grant)  # type: ignore[no-any-return]


def _audit_decision(
    decision: str, user: User, grant: Any, scopes: list[str], patient: str | None
) -> None:
    """Record a consent decision: who decided, for which client, which scopes, and the
    patient picked (or launched with) when there is one."""
    _core().audit.record(
        AuditRecord(
            kind="consent",
            action="E",
            outcome="0",
            subtype=decision,
            who=user.fhir_user or f"User/{user.id}",
            client_id=grant.request.client.client_id,
            remote_addr=remote_addr(),
            entity=f"Patient/{patient}" if patient else None,
            description=f"{decision}: {' '.join(scopes)}"[:1000],
        )
    )


def _redirected(code: str, grant: Any) -> OAuth2Error:
    error = OAuth2Error(error=code, redirect_uri=grant.redirect_uri)
    error.state = grant.request.payload.state
    return error


def _consent(
    grant: Any,
    user: User,
    scopes: list[str],
    picker: bool,
    *,
    errors: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    core = _core()
    query = request.values.get("_q", "").strip() or None
    choices = patient_picker.choices(core, user, query) if picker else []
    launch: Launch | None = grant.request.launch
    return _page(
        "oauth/consent.html",
        status,
        title=f"Allow {grant.request.client.name}?",
        client=grant.request.client,
        user=user,
        scopes=[(s, smart_scopes.describe(s, core.plugins.scopes())) for s in scopes],
        picker=picker,
        choices=choices,
        can_search=picker and patient_picker.can_search(user),
        query=query or "",
        launch_patient=launch.context.patient if launch else None,
        params=authorization_params(),
        errors=errors,
    )
