"""``POST /oauth2/token``, ``/oauth2/introspect`` and ``/oauth2/revoke``: thin views over the
authlib server, with CORS (browser apps call them directly) and the token audit.

Responses follow RFC 6749 §5: JSON, ``Cache-Control: no-store`` and ``Pragma: no-cache``;
errors as ``{"error": ..., "error_description": ...}``. A failed client authentication
(``invalid_client``) always answers 401 with a ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from flask import Blueprint, Response, current_app, g, request

from platform_core.oauth.cors import cors
from platform_core.oauth.token_audit import claimed_client_id, record_token_event

if TYPE_CHECKING:
    from platform_core.app import Core
    from platform_core.oauth.server import FiresideAuthorizationServer

bp = Blueprint("oauth_token", __name__)


def oauth_server() -> FiresideAuthorizationServer:
    """This app's authorization server."""
    return current_app.extensions["fireside_oauth"]  # type: ignore[no-any-return]


def _core() -> Core:
    return current_app.extensions["fireside"]  # type: ignore[no-any-return]


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _error_of(response: Response) -> tuple[str, str | None]:
    try:
        body = orjson.loads(response.get_data())
    except orjson.JSONDecodeError:
        return "server_error", None
    return str(body.get("error", "server_error")), body.get("error_description")


def _client_auth_401(response: Response) -> Response:
    """``invalid_client`` is 401 with a challenge for every authentication method."""
    response.status_code = 401
    if "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Basic realm="fireside", error="invalid_client"'
    return response


@bp.route("/oauth2/token", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@cors
def token() -> Response:
    """The token endpoint: authorization_code, refresh_token, client_credentials."""
    core = _core()
    g.oauth_who = None
    try:
        response: Response = oauth_server().create_token_response()
    except Exception:
        record_token_event(
            core, request, outcome="8", who=None, client_id=claimed_client_id(request)
        )
        raise
    if response.status_code == 200:
        client_id = claimed_client_id(request)
        record_token_event(core, request, outcome="0", who=g.oauth_who, client_id=client_id)
        return _no_store(response)
    error, description = _error_of(response)
    if error == "invalid_client":
        response = _client_auth_401(response)
    record_token_event(
        core,
        request,
        outcome="4",
        who=None,
        client_id=claimed_client_id(request),
        description=f"{error}: {description}" if description else error,
    )
    return _no_store(response)


@bp.route("/oauth2/introspect", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@cors
def introspect() -> Response:
    """RFC 7662 introspection (see ``introspection``), audited."""
    g.oauth_caller = None
    response: Response = oauth_server().create_endpoint_response("introspection")
    _audit_endpoint(response, "introspect")
    if response.status_code != 200 and _error_of(response)[0] == "invalid_client":
        response = _client_auth_401(response)
    return _no_store(response)


@bp.route("/oauth2/revoke", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@cors
def revoke() -> Response:
    """RFC 7009 revocation (see ``revocation``), audited."""
    g.oauth_caller = None
    response: Response = oauth_server().create_endpoint_response("revocation")
    _audit_endpoint(response, "revoke")
    if response.status_code != 200 and _error_of(response)[0] == "invalid_client":
        response = _client_auth_401(response)
    return _no_store(response)


def _audit_endpoint(response: Response, subtype: str) -> None:
    """Record an introspection or revocation request: who asked (the client, or the
    backend service whose bearer token introspects), the outcome, and for an introspection
    whether the token was active. Never the token itself."""
    if response.status_code == 200:
        outcome = "0"
        description = None
        if subtype == "introspect":
            active = orjson.loads(response.get_data()).get("active") is True
            description = "token active" if active else "token not active"
    else:
        outcome = "8" if response.status_code >= 500 else "4"
        error, detail = _error_of(response)
        description = f"{error}: {detail}" if detail else error
    record_token_event(
        _core(),
        request,
        outcome=outcome,
        who=None,
        client_id=g.get("oauth_caller") or claimed_client_id(request),
        description=description,
        subtype=subtype,
    )
