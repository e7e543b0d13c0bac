"""The admin JSON API at ``/auth/admin/users``: list, create, suspend, reactivate, verify
practitioners, link patients.

The caller presents a bearer access token of a user whose role is ``admin`` or
``super_admin``, whose account is active and whose ``token_generation`` still matches the
token's ``gen``. Only a super admin may create or change admin and super admin accounts, and
nobody may suspend themselves. Every error is an RFC 9457 ``application/problem+json``
document whose ``type`` ends with a word naming the problem (an :class:`IdentityError` code,
or ``unauthorized``, ``invalid_token``, ``forbidden``, ``not_found``, ``bad_request``,
``method_not_allowed``, ``unsupported_media_type``) and whose ``code`` member is its stable
``FS-`` code.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, json, request, url_for
from werkzeug.exceptions import HTTPException

from platform_core.auth.bearer import bearer_token
from platform_core.auth.grants import RevokedGrant
from platform_core.auth.keys import InvalidToken
from platform_core.auth.schema import ROLES
from platform_core.fhir import error_codes
from platform_core.identity import accounts
from platform_core.identity.blueprint import core, services
from platform_core.identity.errors import CODES as IDENTITY_CODES
from platform_core.identity.errors import IdentityError
from platform_core.identity.users import (
    STATUSES,
    User,
    create_user,
    get_user,
    link_patient,
    list_users,
    patients_of,
    set_status,
    verify_practitioner,
)

admin_bp = Blueprint("identity_admin", __name__, url_prefix="/auth/admin")

PROBLEM_JSON = "application/problem+json"
MAX_LIMIT = 500
PRIVILEGED = ("admin", "super_admin")
_FS_CODE_OF = {
    "unauthorized": error_codes.UNAUTHENTICATED.code,
    "invalid_token": error_codes.UNAUTHENTICATED.code,
    "forbidden": error_codes.FORBIDDEN.code,
    "unsupported_media_type": error_codes.UNSUPPORTED_MEDIA_TYPE.code,
    "bad_request": error_codes.BAD_REQUEST.code,
    "not_found": error_codes.NO_SUCH_URL.code,
    "method_not_allowed": error_codes.METHOD_NOT_ALLOWED.code,
    **{name: code.code for name, code in IDENTITY_CODES.items()},
}
"""A problem's ``type`` word -> its stable ``FS-`` code (the ``code`` member)."""
_STATUS_OF = {
    "unknown_user": 404,
    "duplicate_email": 409,
    "not_allowed": 409,
}


class Problem(Exception):
    """An error answer of the admin API."""

    def __init__(self, status: int, code: str, detail: str, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title


def problem_response(problem: Problem) -> Response:
    """The RFC 9457 document for ``problem``."""
    body = {
        "type": f"urn:fireside:problem:{problem.code}",
        "title": problem.title or problem.code.replace("_", " ").capitalize(),
        "status": problem.status,
        "detail": problem.detail,
        "code": _FS_CODE_OF[problem.code],
    }
    response = Response(json.dumps(body), problem.status, mimetype=PROBLEM_JSON)
    if problem.status == 401:
        error = ' error="invalid_token"' if problem.code == "invalid_token" else ""
        response.headers["WWW-Authenticate"] = f'Bearer realm="fireside"{error}'
    response.headers["Cache-Control"] = "no-store"
    return response


@admin_bp.errorhandler(Problem)
def _on_problem(problem: Problem) -> Response:
    return problem_response(problem)


@admin_bp.errorhandler(IdentityError)
def _on_identity_error(exc: IdentityError) -> Response:
    return problem_response(Problem(_STATUS_OF.get(exc.code, 400), exc.code, exc.message))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@admin_bp.route("/", defaults={"rest": ""}, methods=_METHODS)
@admin_bp.route("/<path:rest>", methods=_METHODS)
def _no_route(rest: str) -> Response:
    """Unknown URLs and methods under ``/auth/admin`` answer problem+json too (routing errors
    happen before a blueprint's error handlers would see them, so a catch-all route, the
    least specific rule, stands in)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "identity_admin._no_route":
            allowed.append(method)
    if allowed:
        response = problem_response(
            Problem(405, "method_not_allowed", f"Use {', '.join(allowed)} here.")
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return problem_response(Problem(404, "not_found", "No such admin API URL."))


@admin_bp.before_request
def _authorize() -> None:
    """Admit only an active admin or super admin with a current bearer token."""
    raw = bearer_token(request.headers.get("Authorization"))
    if raw is None:
        raise Problem(401, "unauthorized", "A bearer access token is required.")
    try:
        token, _ = core().auth.authenticator.verify(raw)
    except InvalidToken as exc:
        raise Problem(401, "invalid_token", str(exc)) from exc
    except RevokedGrant as exc:
        raise Problem(401, "invalid_token", "The token's user is no longer signed in.") from exc
    user = get_user(core().db, token.user_id) if token.user_id else None
    if user is None or not user.is_active or token.generation != user.token_generation:
        raise Problem(401, "invalid_token", "The token's user is no longer signed in.")
    if user.role not in PRIVILEGED:
        raise Problem(403, "forbidden", "Only administrators may manage accounts.")
    g.identity_admin = user


def _admin() -> User:
    return g.identity_admin


def _require_rank_over(target_role: str) -> None:
    if target_role in PRIVILEGED and _admin().role != "super_admin":
        raise Problem(403, "forbidden", "Only a super admin may manage administrator accounts.")


def user_json(user: User) -> dict[str, Any]:
    """The API representation of a user (never the password hash or TOTP secret)."""

    def instant(value: Any) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value is not None else None

    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "fhirUser": user.fhir_user,
        "status": user.status,
        "emailVerifiedAt": instant(user.email_verified_at),
        "verifiedAt": instant(user.verified_at),
        "totpEnabled": user.totp_enabled,
        "createdAt": instant(user.created_at),
    }


def _json_body() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise Problem(415, "unsupported_media_type", "Send the body as application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "bad_request", "The body must be a JSON object.")
    return body


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Problem(400, "bad_request", f"{name} must be a non-empty string.")
    return value


def _target(user_id: str) -> User:
    user = get_user(core().db, user_id)
    if user is None:
        raise Problem(404, "unknown_user", f"No user with id {user_id}.")
    return user


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise Problem(400, "bad_request", f"{name} must be a whole number.")
    return min(int(raw), maximum)


def _ok(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(payload), status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@admin_bp.get("/users")
def list_view() -> Response:
    """Users in email order; ``?role=``, ``?status=``, ``?limit=`` (max 500), ``?offset=``."""
    role, status = request.args.get("role"), request.args.get("status")
    if role is not None and role not in ROLES:
        raise Problem(400, "unknown_role", f"Unknown role {role!r}.")
    if status is not None and status not in STATUSES:
        raise Problem(400, "invalid_status", f"Unknown status {status!r}.")
    limit = _int_arg("limit", 100, MAX_LIMIT)
    offset = _int_arg("offset", 0, 10**9)
    users = list_users(core().db, role=role, status=status, limit=limit, offset=offset)
    return _ok({"users": [user_json(u) for u in users], "limit": limit, "offset": offset})


@admin_bp.post("/users")
def create_view() -> Response:
    """Create an active account: ``{"email", "role", "password"?, "fhirUser"?}``. Without a
    password the new user is mailed a link to choose one."""
    body = _json_body()
    email = _string(body, "email", required=True)
    role = _string(body, "role", required=True)
    password = _string(body, "password")
    fhir_user = _string(body, "fhirUser")
    assert email is not None and role is not None
    _require_rank_over(role)
    user = create_user(core().db, email=email, password=password, role=role, fhir_user=fhir_user)
    if password is None:
        accounts.invite(core().db, services(), user)
    location = url_for("identity_admin.get_view", user_id=user.id)
    return _ok(user_json(user), 201, {"Location": location})


@admin_bp.get("/users/<user_id>")
def get_view(user_id: str) -> Response:
    """One user, with the patients they may act for."""
    user = _target(user_id)
    payload = user_json(user)
    payload["patients"] = [
        {"patient": f"Patient/{pid}", "relationship": rel}
        for pid, rel in patients_of(core().db, user.id)
    ]
    return _ok(payload)


@admin_bp.post("/users/<user_id>/suspend")
def suspend_view(user_id: str) -> Response:
    """Suspend an account: it can no longer sign in, and its sessions and tokens end."""
    user = _target(user_id)
    if user.id == _admin().id:
        raise Problem(409, "not_allowed", "You cannot suspend your own account.")
    _require_rank_over(user.role)
    return _ok(user_json(set_status(core().db, user.id, "suspended")))


@admin_bp.post("/users/<user_id>/activate")
def activate_view(user_id: str) -> Response:
    """Reactivate a suspended account, or activate a pending one (the admin vouches for the
    address)."""
    user = _target(user_id)
    _require_rank_over(user.role)
    return _ok(user_json(set_status(core().db, user.id, "active")))


@admin_bp.post("/users/<user_id>/verify")
def verify_view(user_id: str) -> Response:
    """Record that the practitioner's credentials were checked (idempotent)."""
    user = _target(user_id)
    return _ok(user_json(verify_practitioner(core().db, user.id)))


@admin_bp.post("/users/<user_id>/patients")
def link_view(user_id: str) -> Response:
    """Let the user act for a patient: ``{"patient": "12", "relationship": "guardian",
    "relatedPerson"?: "3"}`` (``Patient/12`` and ``RelatedPerson/3`` are accepted too)."""
    user = _target(user_id)
    body = _json_body()
    patient = _string(body, "patient", required=True)
    relationship = _string(body, "relationship", required=True)
    related = _string(body, "relatedPerson")
    assert patient is not None and relationship is not None
    link_patient(
        core().db,
        user.id,
        patient.removeprefix("Patient/"),
        relationship,
        related.removeprefix("RelatedPerson/") if related else None,
    )
    return get_view(user.id)
