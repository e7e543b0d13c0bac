"""``POST /oauth2/launch``: an EHR registers the context of an app launch.

The caller is an EHR or portal holding an access token with a ``user/`` or ``system/``
scope, or a signed-in admin. The JSON body names the context::

    {"patient": "123", "encounter": "456", "fhirContext": [{"reference": "Appointment/7"}]}

The patient and encounter must exist. The answer (201) is ``{"launch": "<opaque>",
"expires_in": 600}``; the EHR opens the app with ``?iss=<FHIR base>&launch=<opaque>``. A
launch registered with a user's token or session can only be completed by that user.

CSRF: the body must be JSON, which a cross-site form cannot send, and the endpoint grants no
CORS, so a page elsewhere cannot make an admin's browser register a launch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, Response, current_app, jsonify, request

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.identity.session import current_user
from platform_core.oauth.bearer import bearer_value, verify_bearer
from platform_core.oauth.launch_context import LaunchError, check_context, register_launch

if TYPE_CHECKING:
    from platform_core.app import Core

bp = Blueprint("oauth_launch", __name__)


def _core() -> Core:
    return current_app.extensions["fireside"]  # type: ignore[no-any-return]


def _error(status: int, error: str, description: str, headers: Any = ()) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    for name, value in headers:
        if name.lower() == "www-authenticate":
            response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _exists(core: Core, resource_type: str, resource_id: str) -> bool:
    try:
        core.repository.read(RequestContext.system("oauth"), resource_type, resource_id)
    except FhirError:
        return False
    return True


@bp.route("/oauth2/launch", methods=["POST"])
def launch() -> Response:
    """Register an EHR launch context; see the module docstring."""
    core = _core()
    raw = bearer_value(request)
    if raw is not None:
        try:
            token = verify_bearer(core, raw, ("user", "system"))
        except OAuth2Error as error:
            status, _body, headers = error()
            return _error(status, error.error, error.get_error_description(), headers)
        created_by, user_id = f"client:{token.client_id}", token.user_id
    else:
        user = current_user()
        if user is None or not user.is_admin:
            return _error(
                401,
                "invalid_token",
                "Send a bearer token with a user/ or system/ scope.",
                [("WWW-Authenticate", 'Bearer realm="fireside"')],
            )
        created_by, user_id = f"user:{user.id}", user.id
    if not request.is_json:
        return _error(415, "invalid_request", "The body must be application/json.")
    try:
        context = check_context(request.get_json(silent=True))
    except LaunchError as exc:
        return _error(400, "invalid_request", str(exc))
    if context.patient and not _exists(core, "Patient", context.patient):
        return _error(400, "invalid_request", f"Patient/{context.patient} does not exist.")
    if context.encounter and not _exists(core, "Encounter", context.encounter):
        return _error(400, "invalid_request", f"Encounter/{context.encounter} does not exist.")
    value, ttl = register_launch(core.db, context, created_by=created_by, user_id=user_id)
    response = jsonify({"launch": value, "expires_in": ttl})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response
