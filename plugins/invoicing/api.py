"""``/api/invoicing``: a caller's invoices, one invoice, and its PDF.

Who sees what: patients and guardians (roles ``patient``, ``guardian``) the invoices of the
patients they act for (themselves, their children); admins (``admin``, ``super_admin``)
every invoice. Any other role is refused with 403, an invoice out of reach answers 404 like
an unknown one. Every view first checks the token (401), then the role and the SMART scope
on Invoice (403), then its parameters (400).
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import Response, current_app, jsonify, request
from marshmallow import fields, validate

from platform_core.auth.grants import ADMIN_ROLES
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.web.api import ApiBlueprint, Problem, caller, grant_of, require, require_access
from plugins.invoicing import store
from plugins.invoicing.documents import document_of
from plugins.invoicing.issuing import ACTOR
from plugins.invoicing.pdf import render

PATIENT_ROLES = frozenset({"patient", "guardian"})
MAX_LIMIT = 100
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class ListArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    patient = fields.String(
        load_default=None,
        metadata={"description": "Only this patient's invoices (a Patient id)"},
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_LIMIT))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


def _core() -> Any:
    return current_app.extensions["fireside"]


def _reach(ctx: RequestContext) -> frozenset[str] | None:
    """The patients whose invoices the caller sees (None: everyone's); 403 for any role
    but patient, guardian and admin."""
    require(ctx, roles=ADMIN_ROLES | PATIENT_ROLES)
    grant = grant_of(ctx)
    if grant is None:
        return None  # an internal caller (auth off)
    patients = None if grant.role in ADMIN_ROLES else grant.user_patients
    if grant.patient is not None:
        # A token launched for one patient stays with that patient.
        launch = frozenset({grant.patient})
        patients = launch if patients is None else launch & patients
    return patients


def _args() -> dict[str, Any]:
    try:
        args: dict[str, Any] = ListArgs().load(request.args)
    except ma.ValidationError as exc:
        messages = exc.normalized_messages()
        detail = "; ".join(f"{name}: {' '.join(map(str, m))}" for name, m in messages.items())
        raise Problem(400, detail, errors={"query": messages}) from None
    return args


def _unknown_patient(patient: str) -> Problem:
    return Problem(404, f"Patient/{patient} is not known")


def _check_patient(patient: str, reach: frozenset[str] | None) -> None:
    """404 unless ``patient`` is a Patient the caller may see."""
    if not patient.strip():
        raise Problem(400, "patient: must not be empty", errors={"query": {"patient": ["empty"]}})
    if not _ID.match(patient) or (reach is not None and patient not in reach):
        raise _unknown_patient(patient)
    try:
        _core().repository.read(RequestContext.system(ACTOR), "Patient", patient)
    except FhirError:
        raise _unknown_patient(patient) from None


def _invoice_in_reach(invoice_id: str) -> Any:
    """The row of an invoice the caller may see: 401, 403, or 404 when unknown or out of
    reach."""
    ctx = caller()
    reach = _reach(ctx)
    require_access(ctx, "read", "Invoice")
    row = None
    if _ID.match(invoice_id):
        with _core().db.connect() as conn:
            row = store.get_invoice(conn, invoice_id)
    if row is None or (reach is not None and row.patient_id not in reach):
        raise Problem(404, f"Invoice {invoice_id} is not known")
    return row


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    blp = ApiBlueprint(
        "invoicing",
        __name__,
        url_prefix="/api/invoicing",
        description="Invoices of fulfilled consultations (docs/invoicing.md)",
    )

    @blp.route("/invoices")
    @blp.doc(
        parameters=[
            {"in": "query", "name": "patient", "schema": {"type": "string"}},
            {"in": "query", "name": "limit", "schema": {"type": "integer", "default": 20}},
            {"in": "query", "name": "offset", "schema": {"type": "integer", "default": 0}},
        ]
    )
    @blp.alt_response(200, description="{invoices, total, limit, offset}", success=True)
    @blp.alt_response(400, description="A bad query parameter (problem+json naming it)")
    @blp.alt_response(401, description="No valid bearer token")
    @blp.alt_response(403, description="Not a patient, guardian or admin, or no Invoice scope")
    @blp.alt_response(404, description="The patient is unknown or out of reach")
    def list_invoices() -> Response:
        """The caller's invoices (and their children's), newest first; admins see all."""
        ctx = caller()
        reach = _reach(ctx)
        require_access(ctx, "search", "Invoice")
        args = _args()
        patients = reach
        if args["patient"] is not None:
            _check_patient(args["patient"], reach)
            patients = frozenset({args["patient"]})
        with _core().db.connect() as conn:
            rows, total = store.list_invoices(
                conn, patients, limit=args["limit"], offset=args["offset"]
            )
        return jsonify(
            {
                "invoices": [store.as_item(r) for r in rows],
                "total": total,
                "limit": args["limit"],
                "offset": args["offset"],
            }
        )

    @blp.route("/invoices/<invoice_id>")
    @blp.alt_response(200, description="The invoice", success=True)
    @blp.alt_response(401, description="No valid bearer token")
    @blp.alt_response(403, description="Not a patient, guardian or admin, or no Invoice scope")
    @blp.alt_response(404, description="Unknown or out of reach")
    def get_invoice(invoice_id: str) -> Response:
        """One invoice."""
        return jsonify(store.as_item(_invoice_in_reach(invoice_id)))

    @blp.route("/invoices/<invoice_id>/pdf")
    @blp.alt_response(200, description="application/pdf, one page", success=True)
    @blp.alt_response(401, description="No valid bearer token")
    @blp.alt_response(403, description="Not a patient, guardian or admin, or no Invoice scope")
    @blp.alt_response(404, description="Unknown or out of reach")
    def invoice_pdf(invoice_id: str) -> Response:
        """The invoice as a one-page PDF."""
        row = _invoice_in_reach(invoice_id)
        body = render(document_of(_core(), row))
        return Response(
            body,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{row.number}.pdf"'},
        )

    @blp.after_request
    def _private(response: Any) -> Any:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Vary"] = "Authorization"
        return response

    return blp
