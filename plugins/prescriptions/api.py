"""``/api/prescriptions``: issue, list, read, cancel and replace prescriptions.

Thin views: find the caller (401 without a valid token), check the role and the SMART
scopes the same write or read over FHIR REST would need (403), hand the body to
:class:`~plugins.prescriptions.service.PrescriptionService`, render. Bodies are parsed
with the FHIR JSON parser and answers written with its writer, so decimals keep the
precision the caller wrote. Errors are ``application/problem+json``; a 400 carries
``errors: {"json": {field: [messages]}}`` naming each wrong field.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from platform_core.fhir import jsonio
from platform_core.web.api import ApiBlueprint, Problem, caller, require, require_access
from plugins.prescriptions.resources import issue_view
from plugins.prescriptions.service import MR, PrescriptionService

PRESCRIBERS = frozenset({"practitioner"})
CANCELLERS = frozenset({"practitioner", "admin", "super_admin"})


def _service() -> PrescriptionService:
    return PrescriptionService(current_app.extensions["fireside"])


def _body() -> Any:
    """The JSON body (decimals as :class:`~decimal.Decimal`); 400 when missing or broken."""
    raw = request.get_data()
    if not raw.strip():
        raise Problem(
            400, "body: send a JSON object", title="Bad Request", errors={"json": {"body": []}}
        )
    return jsonio.parse_json(raw)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = current_app.response_class(
        jsonio.dumps(body), status=status, mimetype="application/json"
    )
    response.headers.update(headers or {})
    return response


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    blp = ApiBlueprint(
        "prescriptions",
        __name__,
        url_prefix="/api/prescriptions",
        description="Prescriptions (docs/prescriptions.md)",
    )

    @blp.route("/", methods=["POST"], strict_slashes=False)
    @blp.alt_response(201, success=True, description="Issued, with any allergy alerts")
    @blp.alt_response(400, description="A field is wrong (problem+json naming it)")
    @blp.alt_response(401, description="The bearer token is not valid")
    @blp.alt_response(403, description="Not a verified practitioner caring for the patient")
    @blp.alt_response(404, description="The patient is not known")
    def issue() -> Response:
        """Issue a prescription (a MedicationRequest) for a patient you care for."""
        ctx = caller()
        require(ctx, roles=PRESCRIBERS)
        require_access(ctx, "create", MR)
        issued = _service().issue(ctx, _body())
        return _issued(issued)

    @blp.route("/", methods=["GET"], strict_slashes=False)
    @blp.alt_response(200, success=True, description="The prescriptions you may see")
    @blp.alt_response(400, description="Unknown status")
    @blp.alt_response(401, description="The bearer token is not valid")
    @blp.alt_response(404, description="The patient is not known (or not yours to see)")
    def list_prescriptions() -> Response:
        """List prescriptions, newest first: ``?patient=<id>&status=active``."""
        ctx = caller()
        require_access(ctx, "search", MR)
        items = _service().list(ctx, request.args.get("patient"), request.args.get("status"))
        return _json({"prescriptions": items})

    @blp.route("/<mr_id>", methods=["GET"])
    @blp.alt_response(200, success=True, description="The prescription")
    @blp.alt_response(401, description="The bearer token is not valid")
    @blp.alt_response(404, description="Not known (or not yours to see)")
    def read(mr_id: str) -> Response:
        """One prescription, with its allergy alerts."""
        ctx = caller()
        require_access(ctx, "read", MR)
        return _json(_service().get(ctx, mr_id))

    @blp.route("/<mr_id>/cancel", methods=["POST"])
    @blp.alt_response(200, success=True, description="Cancelled")
    @blp.alt_response(400, description="No reason given")
    @blp.alt_response(401, description="The bearer token is not valid")
    @blp.alt_response(403, description="Not the prescriber or an administrator")
    @blp.alt_response(404, description="Not known (or not yours to see)")
    @blp.alt_response(409, description="The prescription is not active")
    def cancel(mr_id: str) -> Response:
        """Cancel an active prescription: ``{"reason": "..."}``."""
        ctx = caller()
        require(ctx, roles=CANCELLERS)
        require_access(ctx, "update", MR)
        return _json(_service().cancel(ctx, mr_id, _body()))

    @blp.route("/<mr_id>/replace", methods=["POST"])
    @blp.alt_response(201, success=True, description="The replacement, with allergy alerts")
    @blp.alt_response(400, description="A field is wrong (problem+json naming it)")
    @blp.alt_response(401, description="The bearer token is not valid")
    @blp.alt_response(403, description="Not the prescriber, or no longer allowed to prescribe")
    @blp.alt_response(404, description="Not known (or not yours to see)")
    @blp.alt_response(409, description="The prescription is not active")
    def replace(mr_id: str) -> Response:
        """Replace an active prescription by a new one for the same patient."""
        ctx = caller()
        require(ctx, roles=PRESCRIBERS)
        require_access(ctx, "create", MR)
        require_access(ctx, "update", MR)
        issued = _service().replace(ctx, mr_id, _body())
        return _issued(issued, replaces=mr_id)

    @blp.after_request
    def _private(response: Any) -> Any:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Vary"] = "Authorization"
        return response

    return blp


def _issued(issued: Any, **extra: Any) -> Response:
    """The 201 answer of an issue or a replacement, with the MedicationRequest's URL."""
    stored = issued.medication_request
    base = current_app.extensions["fireside"].repository.base_url
    body = {
        "medication_request": stored.id,
        "detected_issues": [issue_view(i) for i in issued.detected_issues],
        **extra,
    }
    return _json(body, 201, {"Location": f"{base}/{stored.reference}"})
