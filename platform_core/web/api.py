"""The JSON API under ``/api``: one flask-smorest ``Api`` per app, its OpenAPI document at
``/api/openapi.json`` and browsable docs at ``/api/docs``; errors as
``application/problem+json`` (RFC 9457); and who the caller is.

Plugin APIs are ``flask_smorest.Blueprint`` objects returned from ``register_blueprints``;
:func:`register` puts them in the OpenAPI document. Views find their caller with
:func:`caller` and gate it with :func:`require`, and raise :class:`Problem` for errors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from werkzeug.exceptions import HTTPException

from platform_core.auth.grants import ADMIN_ROLES, Grant
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError

API = "fireside_api"
PROBLEM_JSON = "application/problem+json"


class Problem(HTTPException):
    """An API error, answered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(description=detail)
        self.code = status
        self.title = title
        self.problem_headers = dict(headers or {})
        self.extra = extra


def problem_response(status: int, detail: str, title: str | None = None, **extra: Any) -> Response:
    """A problem+json response."""
    body = {
        "type": "about:blank",
        "title": title or _reason(status),
        "status": status,
        "detail": detail,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class FiresideApi(Api):
    """flask-smorest's Api, answering errors under ``/api`` as problem+json (and leaving the
    rest of the app's error pages alone)."""

    def handle_http_exception(self, error: HTTPException) -> Any:  # type: ignore[override]
        if not request.path.startswith("/api/"):
            return error
        status = error.code or 500
        if isinstance(error, Problem):
            response = problem_response(status, str(error.description), error.title, **error.extra)
            response.headers.update(error.problem_headers)
        else:
            extra: dict[str, Any] = {}
            messages = getattr(error, "data", {}).get("messages")
            if messages:  # webargs validation errors: which field, what is wrong
                extra["errors"] = messages
            response = problem_response(status, str(error.description), **extra)
        for name, value in (getattr(error, "data", {}).get("headers") or {}).items():
            response.headers[name] = value
        return response


def init_app(app: Flask) -> None:
    """Create the app's API (OpenAPI document and docs)."""
    app.config.setdefault("API_TITLE", "Fireside API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist/")
    app.extensions[API] = FiresideApi(app)
    app.register_error_handler(FhirError, _fhir_error_under_api)


def _fhir_error_under_api(error: FhirError) -> Any:
    """A FHIR error raised by a plugin API view (the repository refusing a write, a resource
    that is gone): answered as problem+json with the FHIR status, the OperationOutcome's
    messages as ``detail`` and its issues as ``issues``. FHIR routes answer their own errors
    before this handler sees them."""
    if not request.path.startswith("/api/"):
        raise error
    response = problem_response(error.status, str(error), issues=error.outcome().get("issue", []))
    response.headers.update(error.headers or {})
    return response


def register(app: Flask, blueprint: Blueprint) -> None:
    """Register a plugin's blueprint; flask-smorest ones join the OpenAPI document."""
    if isinstance(blueprint, ApiBlueprint):
        app.extensions[API].register_blueprint(blueprint)
    else:
        app.register_blueprint(blueprint)


def caller() -> RequestContext:
    """The caller of this API request, from its bearer token; 401 without a valid one.

    With ``auth_required`` off every caller is a trusted anonymous one (a developer's own
    machine)."""
    core = current_app.extensions["fireside"]
    if not core.settings.auth_required:
        return RequestContext(actor="anonymous", internal=True, remote_addr=request.remote_addr)
    try:
        return core.auth.authenticator.context(
            request.headers.get("Authorization"), remote_addr=request.remote_addr
        )
    except FhirError as exc:
        raise Problem(
            401,
            exc.issues[0].diagnostics or "A valid bearer access token is required",
            title="Unauthorized",
            headers=exc.headers,
        ) from None


def grant_of(ctx: RequestContext) -> Grant | None:
    """What the caller's token grants (None for an internal caller)."""
    return ctx.grant if isinstance(ctx.grant, Grant) else None


def require(
    ctx: RequestContext, *, scope: str | None = None, roles: frozenset[str] | None = None
) -> None:
    """403 unless the caller holds ``scope`` (exactly, or a ``system/*`` token for a
    ``system/`` scope) and, for a user, one of ``roles``. Internal callers pass."""
    if ctx.internal:
        return
    grant = grant_of(ctx)
    if scope is not None and scope not in ctx.scopes:
        raise Problem(403, f"The token lacks the scope {scope!r}", title="Forbidden")
    if roles is not None and (grant is None or grant.role not in roles):
        raise Problem(
            403,
            "Your role may not do this: " + " or ".join(sorted(roles)) + " only",
            title="Forbidden",
        )


def require_access(ctx: RequestContext, interaction: str, resource_type: str) -> None:
    """403 unless the caller's SMART scopes allow ``interaction`` (``read``, ``search``,
    ``create``, ``update``...) on ``resource_type``: plugin APIs that read or write FHIR
    resources on a caller's behalf ask for the same scopes FHIR REST would."""
    core = current_app.extensions["fireside"]
    try:
        core.repository.policy.check(ctx, interaction, resource_type)
    except FhirError as exc:
        raise Problem(
            exc.status,
            exc.issues[0].diagnostics or "The token does not allow this",
            title="Forbidden" if exc.status == 403 else None,
            headers=exc.headers,
        ) from None


def is_administrator(ctx: RequestContext) -> bool:
    """Whether the caller oversees everything: an internal caller, a user whose role is
    ``admin`` or ``super_admin``, or a backend service holding a ``system/`` scope."""
    if ctx.internal:
        return True
    grant = grant_of(ctx)
    if grant is None:
        return False
    if grant.user_id is None:
        return "system" in grant.scopes.contexts()
    return grant.role in ADMIN_ROLES


def acts_for(ctx: RequestContext, patient_id: str) -> bool:
    """Whether the caller may act for ``Patient/<patient_id>``: the patient themselves, a
    guardian, a practitioner caring for them, an admin, or a ``system`` client. A
    ``patient/`` token is confined to its launch patient."""
    if ctx.internal:
        return True
    grant = grant_of(ctx)
    if grant is None:
        return False
    if grant.patient is not None and grant.patient != patient_id:
        return False
    if grant.user_id is None:  # a backend service
        return is_administrator(ctx)
    return grant.user_patients is None or patient_id in grant.user_patients


__all__ = [
    "PROBLEM_JSON",
    "ApiBlueprint",
    "Problem",
    "acts_for",
    "caller",
    "grant_of",
    "is_administrator",
    "problem_response",
    "register",
    "require",
    "require_access",
]
