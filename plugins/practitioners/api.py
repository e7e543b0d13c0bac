"""``/api/practitioners``: a doctor's profile and documents, the admins' review, and the
directory.

Thin views: work out who is calling (401 without a valid token, 403 for the wrong role or
scopes), parse and check the input (400 naming the field), call :mod:`.service` or
:mod:`.directory`, render. Out-of-reach things answer 404 like unknown ones.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from platform_core.auth.grants import ADMIN_ROLES
from platform_core.web.api import (
    ApiBlueprint,
    Problem,
    caller,
    grant_of,
    require,
    require_access,
)
from plugins.practitioners import directory, service
from plugins.practitioners import documents as docs
from plugins.practitioners.profile import MAX_BIO, ProfileInput, parse_profile, profile_of
from plugins.practitioners.schema import DOCUMENT_TYPES, STATUSES

PRACTITIONERS = frozenset({"practitioner"})
DEFAULT_MAX_BYTES = 5_000_000
FORM_OVERHEAD = 64 * 1024
"""Room for the multipart framing and the ``type`` field around the file."""
MAX_LIMIT = 100
MAX_QUERY = 200

_ERRORS = {
    400: "Bad input (problem+json naming the field)",
    401: "No valid bearer token",
    403: "The caller's role or scopes do not allow this",
    404: "Unknown, or out of the caller's reach",
    409: "Not in this state (the detail says the current status)",
    413: "The file is too large",
    415: "The file is not a PDF, PNG or JPEG",
    422: "The licence has expired",
}


def _core() -> Any:
    return current_app.extensions["fireside"]


def _own_user(interaction: str, resource_type: str) -> str:
    """The calling practitioner's account id (403 for anyone else)."""
    ctx = caller()
    require(ctx, roles=PRACTITIONERS)
    grant = grant_of(ctx)
    if grant is None or grant.user_id is None:
        raise Problem(403, "Only a practitioner's own account may do this", title="Forbidden")
    require_access(ctx, interaction, resource_type)
    return grant.user_id


def _admin(interaction: str) -> str:
    """Admit admins; who decides (their user id)."""
    ctx = caller()
    require(ctx, roles=ADMIN_ROLES)
    require_access(ctx, interaction, "Practitioner")
    grant = grant_of(ctx)
    return grant.user_id if grant is not None and grant.user_id else ctx.actor


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise Problem(
            400, "Send a JSON object with Content-Type: application/json", title="Bad Request"
        )
    return body


def _profile() -> ProfileInput:
    profile = parse_profile(_json_body())
    if profile.licence.expired():
        raise Problem(
            422,
            f"licence.expires: the licence expired on {profile.licence.expires.isoformat()}; "
            "renew it before applying",
            title="Unprocessable Content",
            errors={"json": {"licence.expires": ["the licence has expired"]}},
        )
    return profile


def _bad_param(name: str, message: str) -> Problem:
    return Problem(
        400, f"{name}: {message}", title="Bad Request", errors={"query": {name: [message]}}
    )


def _int_param(name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise _bad_param(name, f"must be a whole number, not {raw!r}")
    value = int(raw)
    if value < lo or (hi is not None and value > hi):
        raise _bad_param(name, f"must be from {lo} to {hi}" if hi else f"must be at least {lo}")
    return value


def _paging() -> tuple[int, int]:
    return _int_param("limit", 20, 1, MAX_LIMIT), _int_param("offset", 0, 0, None)


def _reason() -> str:
    body = request.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise Problem(
            400,
            "reason: required, a non-empty text the practitioner will read",
            title="Bad Request",
            errors={"json": {"reason": ["is required"]}},
        )
    reason = reason.strip()
    if len(reason) > MAX_BIO:
        raise Problem(
            400,
            f"reason: at most {MAX_BIO} characters",
            title="Bad Request",
            errors={"json": {"reason": [f"at most {MAX_BIO} characters"]}},
        )
    return reason


def _read_upload(max_bytes: int) -> tuple[str, Any, bytes, str]:
    """The upload's ``type``, file part, bytes and sniffed content type, checked: 413 over
    ``max_bytes`` (before reading when the declared length says so), 400 for a missing or
    bad part, 415 for anything but PDF, PNG or JPEG."""
    too_large = Problem(
        413,
        f"file: at most {max_bytes} bytes are accepted",
        title="Content Too Large",
        max_bytes=max_bytes,
    )
    if request.content_length is not None and request.content_length > max_bytes + FORM_OVERHEAD:
        raise too_large
    request.max_content_length = max_bytes + FORM_OVERHEAD
    if request.mimetype != "multipart/form-data":
        raise Problem(
            400,
            "Send multipart/form-data with a 'file' part and a 'type' field",
            title="Bad Request",
        )
    try:
        kind = request.form.get("type")
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        raise too_large from None
    if kind not in DOCUMENT_TYPES:
        message = f"must be one of {', '.join(DOCUMENT_TYPES)}"
        raise Problem(
            400, f"type: {message}", title="Bad Request", errors={"form": {"type": [message]}}
        )
    if upload is None:
        raise Problem(
            400,
            "file: required, the document as a file part",
            title="Bad Request",
            errors={"files": {"file": ["is required"]}},
        )
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large
    if not data:
        raise Problem(
            400,
            "file: the file is empty",
            title="Bad Request",
            errors={"files": {"file": ["is empty"]}},
        )
    content_type = docs.sniff(data)
    if content_type is None:
        raise Problem(
            415,
            "file: only PDF, PNG and JPEG documents are accepted, and this one is none of "
            f"them (declared as {upload.mimetype or 'nothing'})",
            title="Unsupported Media Type",
        )
    return kind, upload, data, content_type


def _with_documents(core: Any, row: Any, *, for_admin: bool) -> dict[str, Any]:
    """An application with its profile and documents."""
    practitioner, role = service.resources_of(core, row)
    out = service.application_json(row, for_admin=for_admin)
    out["profile"] = profile_of(practitioner, role)
    out["documents"] = [
        service.document_json(d) for d in service.documents_of(core, row.practitioner_id)
    ]
    return out


def _download_name(title: str, content_type: str) -> str:
    """The title, with the extension of what the bytes really are."""
    wanted = docs.EXTENSIONS[content_type]
    lower = title.lower()
    if lower.endswith(wanted) or (wanted == ".jpg" and lower.endswith(".jpeg")):
        return title
    return title + wanted


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    bp = ApiBlueprint(
        "practitioners",
        __name__,
        url_prefix="/api/practitioners",
        description="Doctor onboarding, credential documents, verification and the directory "
        "(docs/practitioners.md)",
    )

    def _documents(*codes: int) -> Callable[[Any], Any]:
        """Document a view's error answers in the OpenAPI document."""

        def wrap(view: Any) -> Any:
            for code in codes:
                view = bp.alt_response(code, description=_ERRORS[code])(view)
            return view

        return wrap

    # --- the practitioner's own profile -------------------------------------------------

    @bp.route("/profile", methods=["POST"])
    @_documents(400, 401, 403, 409, 422)
    def create_profile() -> tuple[dict[str, Any], int]:
        """Apply: create your Practitioner, PractitionerRole and a pending application."""
        user_id = _own_user("create", "Practitioner")
        row = service.create_profile(_core(), user_id, _profile())
        return {
            "practitioner": row.practitioner_id,
            "practitioner_role": row.practitioner_role_id,
            "status": row.status,
        }, 201

    @bp.route("/profile", methods=["PUT"])
    @_documents(400, 401, 403, 404, 409, 422)
    def update_profile() -> dict[str, Any]:
        """Change your details while pending or rejected (a rejected one is re-sent)."""
        user_id = _own_user("update", "Practitioner")
        row = service.update_profile(_core(), user_id, _profile())
        return {
            "practitioner": row.practitioner_id,
            "practitioner_role": row.practitioner_role_id,
            "status": row.status,
        }

    @bp.route("/me", methods=["GET"])
    @_documents(401, 403, 404)
    def me() -> dict[str, Any]:
        """Your profile, your application's status and reason, your documents."""
        user_id = _own_user("read", "Practitioner")
        core = _core()
        row = service.own_application(core, user_id)
        if row is None:
            raise Problem(
                404,
                "You have no practitioner profile yet: create it with "
                "POST /api/practitioners/profile",
                title="Not Found",
            )
        return _with_documents(core, row, for_admin=False)

    @bp.route("/me/documents", methods=["POST"])
    @_documents(400, 401, 403, 409, 413, 415)
    def upload() -> tuple[dict[str, Any], int]:
        """Upload a credential (multipart/form-data: ``file`` and ``type``)."""
        user_id = _own_user("create", "DocumentReference")
        core = _core()
        max_bytes = int(
            core.settings.extra.get("practitioners_document_max_bytes", DEFAULT_MAX_BYTES)
        )
        kind, upload, data, content_type = _read_upload(max_bytes)
        stored = service.add_document(core, user_id, kind, upload.filename, data, content_type)
        return {"document_reference": stored.id, **service.document_json(stored)}, 201

    @bp.route("/documents/<document_id>/content", methods=["GET"])
    @_documents(401, 404)
    def content(document_id: str) -> Response:
        """A document's bytes (its owner and admins only)."""
        ctx = caller()
        require_access(ctx, "read", "Binary")
        grant = grant_of(ctx)
        stored = service.document_content(_core(), document_id)
        allowed = stored is not None and (
            ctx.internal
            or (
                grant is not None
                and (grant.role in ADMIN_ROLES or grant.user_id == stored.application.user_id)
            )
        )
        if stored is None or not allowed:
            raise Problem(404, f"No document {document_id}", title="Not Found")
        response = send_file(
            io.BytesIO(stored.data),
            mimetype=stored.content_type,
            as_attachment=True,
            download_name=_download_name(stored.document.title, stored.content_type),
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # --- the admins' review -------------------------------------------------------------

    @bp.route("/applications", methods=["GET"])
    @_documents(400, 401, 403)
    def applications() -> dict[str, Any]:
        """Applications, oldest submission first; ``status`` narrows to one state."""
        _admin("read")
        status = request.args.get("status") or None
        if status is not None and status not in STATUSES:
            raise _bad_param("status", f"must be one of {', '.join(STATUSES)}")
        limit, offset = _paging()
        rows, total = service.list_applications(_core(), status, limit, offset)
        return {
            "applications": [service.application_json(r, for_admin=True) for r in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @bp.route("/applications/<practitioner_id>", methods=["GET"])
    @_documents(401, 403, 404)
    def one_application(practitioner_id: str) -> dict[str, Any]:
        """An application with the profile and the documents."""
        _admin("read")
        core = _core()
        row = service.application(core, practitioner_id)
        if row is None:
            raise Problem(404, f"No application for Practitioner/{practitioner_id}")
        return _with_documents(core, row, for_admin=True)

    @bp.route("/applications/<practitioner_id>/verify", methods=["POST"])
    @_documents(401, 403, 404, 409)
    def verify(practitioner_id: str) -> dict[str, Any]:
        """pending -> verified."""
        by = _admin("update")
        row = service.verify(_core(), practitioner_id, by)
        return service.application_json(row, for_admin=True)

    @bp.route("/applications/<practitioner_id>/reject", methods=["POST"])
    @_documents(400, 401, 403, 404, 409)
    def reject(practitioner_id: str) -> dict[str, Any]:
        """pending -> rejected, with ``{"reason"}``."""
        by = _admin("update")
        row = service.reject(_core(), practitioner_id, by, _reason())
        return service.application_json(row, for_admin=True)

    @bp.route("/applications/<practitioner_id>/suspend", methods=["POST"])
    @_documents(400, 401, 403, 404, 409)
    def suspend(practitioner_id: str) -> dict[str, Any]:
        """verified -> suspended, with ``{"reason"}``: the account stops at once."""
        by = _admin("update")
        row = service.suspend(_core(), practitioner_id, by, _reason())
        return service.application_json(row, for_admin=True)

    @bp.route("/applications/<practitioner_id>/reinstate", methods=["POST"])
    @_documents(401, 403, 404, 409)
    def reinstate(practitioner_id: str) -> dict[str, Any]:
        """suspended -> verified: the account active again."""
        by = _admin("update")
        row = service.reinstate(_core(), practitioner_id, by)
        return service.application_json(row, for_admin=True)

    # --- the directory ------------------------------------------------------------------

    @bp.route("/directory", methods=["GET"])
    @_documents(400, 401)
    def directory_search() -> dict[str, Any]:
        """Verified, active practitioners by specialty (SNOMED CT code) and name."""
        caller()
        specialty = request.args.get("specialty") or None
        if specialty is not None and not (specialty.isascii() and specialty.isdigit()):
            raise _bad_param("specialty", "must be a SNOMED CT code (digits)")
        q = request.args.get("q") or None
        if q is not None and len(q) > MAX_QUERY:
            raise _bad_param("q", f"at most {MAX_QUERY} characters")
        limit, offset = _paging()
        entries, total = directory.search(
            _core(), specialty=specialty, q=q, limit=limit, offset=offset
        )
        return {"practitioners": entries, "total": total, "limit": limit, "offset": offset}

    @bp.route("/directory/<practitioner_id>", methods=["GET"])
    @_documents(401, 404)
    def directory_one(practitioner_id: str) -> dict[str, Any]:
        """One listed practitioner."""
        caller()
        entry = directory.one(_core(), practitioner_id)
        if entry is None:
            raise Problem(404, f"Practitioner/{practitioner_id} is not in the directory")
        return entry

    @bp.after_request
    def _private(response: Any) -> Any:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Vary"] = "Authorization"
        return response

    return bp
