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

from platform_core.auth.grants import Grant
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


__all__ = [
    "PROBLEM_JSON",
    "ApiBlueprint",
    "Problem",
    "caller",
    "grant_of",
    "problem_response",
    "register",
    "require",
]
