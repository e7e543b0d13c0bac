"""Issuing, replacing, cancelling and reading prescriptions.

Every write happens in one repository transaction: the MedicationRequest, the allergy check
and its DetectedIssues, a replaced prescription's cancellation and the domain event
(``prescription.issued``, ``prescription.cancelled``) commit together or not at all, so a
refused or failed request leaves nothing behind. The caller's rights are checked here first
(verified practitioner, care relationship, the prescription's requester); the writes then go
through the repository with an internal context whose actor is the caller, so Provenance
and audit name them. The same rules are enforced for every other writer by the
``fhir_resource_before_write`` hook (:mod:`plugins.prescriptions.rules`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.fhir.storage.records import StoredResource
from platform_core.identity.care import has_care_relationship, is_verified_practitioner
from platform_core.web.api import Problem, grant_of
from plugins.prescriptions import allergies
from plugins.prescriptions.access import Viewer
from plugins.prescriptions.order import BadOrder, PrescriptionOrder, parse_order
from plugins.prescriptions.resources import (
    allergy_alert,
    medication_display,
    medication_request,
    prescription_view,
    reference_id,
)

MR = "MedicationRequest"
STATUSES = (
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
)
"""MedicationRequest.status codes (R4)."""
ISSUED = "prescription.issued"
CANCELLED = "prescription.cancelled"
ALLERGY_LIMIT = 1_000
"""Most AllergyIntolerances read for one patient's check."""
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_SERVER = RequestContext.system()


@dataclass(frozen=True)
class Issued:
    """A prescription just written, with the allergy alerts raised for it."""

    medication_request: StoredResource
    detected_issues: list[dict[str, Any]]


def bad_request(errors: dict[str, list[str]]) -> Problem:
    """400 naming each wrong field; ``errors`` is ``{"json": {field: [messages]}}``."""
    detail = "; ".join(f"{f}: {', '.join(m)}" for f, m in errors.items())
    return Problem(400, detail, title="Bad Request", errors={"json": errors})


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} is not known", title="Not Found")


class PrescriptionService:
    """The prescriptions of one app (its core: repository, jobs, settings)."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.repository = core.repository
        extra = core.settings.extra
        self.max_refills = int(extra.get("prescriptions_max_refills", 12))
        self.list_limit = int(extra.get("prescriptions_list_limit", 100))

    # --- writes ------------------------------------------------------------------------
    def issue(self, ctx: RequestContext, body: Any) -> Issued:
        """``POST /api/prescriptions``: check, write the MedicationRequest, run the allergy
        check, publish ``prescription.issued``."""
        me, practitioner_id = self._prescriber(ctx)
        order = self._parse(body, patient_required=True)
        patient_id = order.patient or ""
        with self.repository.transaction() as conn:
            self._require_may_prescribe(conn, practitioner_id, patient_id)
            return self._write(conn, ctx, me, order, patient_id)

    def replace(self, ctx: RequestContext, old_id: str, body: Any) -> Issued:
        """``POST /api/prescriptions/<id>/replace``: a new prescription for the same patient
        whose ``priorPrescription`` is the old one, which is cancelled ("replaced")."""
        me, practitioner_id = self._prescriber(ctx)
        order = self._parse(body, patient_required=False)
        with self.repository.transaction() as conn:
            old = self._visible(ctx, conn, old_id)
            resource = old.resource()
            patient_id = reference_id(resource.get("subject"), "Patient") or ""
            self._require_requester(resource, me, "replace")
            if order.patient is not None and order.patient != patient_id:
                raise bad_request({"patient": ["must be the patient of the prescription replaced"]})
            self._require_active(resource, "replaced")
            self._require_may_prescribe(conn, practitioner_id, patient_id)
            self._cancel(conn, ctx, old, resource, "replaced")
            return self._write(conn, ctx, me, order, patient_id, prior=old.id)

    def cancel(self, ctx: RequestContext, mr_id: str, body: Any) -> dict[str, Any]:
        """``POST /api/prescriptions/<id>/cancel``: status ``cancelled`` with the reason;
        publishes ``prescription.cancelled``. The prescriber or an administrator."""
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 2_000:
            raise bad_request({"reason": ["must be a non-empty string (at most 2000 characters)"]})
        viewer = Viewer.of(ctx)
        with self.repository.transaction() as conn:
            stored = self._visible(ctx, conn, mr_id, viewer)
            resource = stored.resource()
            if not viewer.everything:
                self._require_requester(resource, self._own_practitioner(ctx)[0], "cancel")
            self._require_active(resource, "cancelled")
            written = self._cancel(conn, ctx, stored, resource, reason.strip())
            return self._view(conn, written.resource())

    # --- reads -------------------------------------------------------------------------
    def list(self, ctx: RequestContext, patient: str | None, status: str | None) -> list[Any]:
        """``GET /api/prescriptions``: what the caller may see, newest first."""
        statuses = self._statuses(status)
        viewer = Viewer.of(ctx)
        params: list[tuple[str, str]] = [("_sort", "-authoredon")]
        with self.repository.read_engine.connect() as conn:
            if patient is not None:
                if not _ID.match(patient) or not viewer.sees_patient(conn, patient):
                    raise not_found(f"Patient/{patient}")
                if not self._exists(conn, "Patient", patient):
                    raise not_found(f"Patient/{patient}")
                params.append(("patient", patient))
            elif viewer.confined_to is not None:
                params.append(("patient", viewer.confined_to))
            elif viewer.practitioner is not None:
                params.append(("requester", f"Practitioner/{viewer.practitioner}"))
            elif not viewer.everything and viewer.patients is not None:
                if not viewer.patients:
                    return []
                params.append(("patient", ",".join(sorted(viewer.patients))))
            if statuses:
                params.append(("status", ",".join(statuses)))
            request = self.repository.parse_search(MR, params)
            found = self.repository.search(_SERVER, request, conn=conn, limit=self.list_limit)
            resources = [m.resource() for m in found.matches]
            resources = [r for r in resources if viewer.sees(conn, r)]
            issues = self._issues(conn, [r["id"] for r in resources])
            return [prescription_view(r, issues.get(r["id"], [])) for r in resources]

    def get(self, ctx: RequestContext, mr_id: str) -> dict[str, Any]:
        """``GET /api/prescriptions/<id>``."""
        with self.repository.read_engine.connect() as conn:
            stored = self._visible(ctx, conn, mr_id)
            return self._view(conn, stored.resource())

    # --- steps -------------------------------------------------------------------------
    def _parse(self, body: Any, *, patient_required: bool) -> PrescriptionOrder:
        try:
            return parse_order(
                body, max_refills=self.max_refills, patient_required=patient_required
            )
        except BadOrder as exc:
            raise bad_request(exc.errors) from None

    @staticmethod
    def _own_practitioner(ctx: RequestContext) -> tuple[str, str]:
        """The caller's own ``Practitioner/<id>`` and id; 403 without one."""
        grant = grant_of(ctx)
        kind, _, pid = ((grant.fhir_user if grant else None) or "").partition("/")
        if kind != "Practitioner" or not pid:
            raise Problem(
                403, "Your account has no Practitioner resource to act as", title="Forbidden"
            )
        return f"Practitioner/{pid}", pid

    def _prescriber(self, ctx: RequestContext) -> tuple[str, str]:
        """The caller's own ``Practitioner/<id>`` and id, verified; 403 otherwise."""
        me, pid = self._own_practitioner(ctx)
        with self.repository.read_engine.connect() as conn:
            if not is_verified_practitioner(conn, pid):
                raise Problem(
                    403,
                    "Only practitioners verified by an administrator may prescribe; "
                    "yours is not verified (yet)",
                    title="Forbidden",
                )
        return me, pid

    def _require_may_prescribe(self, conn: Connection, practitioner_id: str, patient: str) -> None:
        """404 for an unknown patient, 403 without a care relationship (checked again in
        the transaction: a suspension meanwhile ends the right to prescribe)."""
        if not self._exists(conn, "Patient", patient):
            raise not_found(f"Patient/{patient}")
        if not is_verified_practitioner(conn, practitioner_id):
            raise Problem(403, "Your practitioner account is not verified", title="Forbidden")
        if not has_care_relationship(conn, practitioner_id, patient):
            raise Problem(
                403,
                f"You have no care relationship with Patient/{patient}: book an appointment "
                "with the patient, or be assigned to them by an administrator, first",
                title="Forbidden",
            )

    @staticmethod
    def _require_requester(resource: dict[str, Any], me: str, action: str) -> None:
        requester = (resource.get("requester") or {}).get("reference")
        if requester != me:
            raise Problem(
                403,
                f"Only the prescriber ({requester}) or an administrator may {action} "
                f"MedicationRequest/{resource['id']}",
                title="Forbidden",
            )

    @staticmethod
    def _require_active(resource: dict[str, Any], becoming: str) -> None:
        if resource.get("status") != "active":
            raise Problem(
                409,
                f"MedicationRequest/{resource['id']} is {resource.get('status')}: only an "
                f"active prescription can be {becoming}",
                title="Conflict",
            )

    def _exists(self, conn: Connection, resource_type: str, resource_id: str) -> bool:
        try:
            self.repository.read(_SERVER, resource_type, resource_id, conn=conn)
        except FhirError:
            return False
        return True

    def _visible(
        self,
        ctx: RequestContext,
        conn: Connection,
        mr_id: str,
        viewer: Viewer | None = None,
    ) -> StoredResource:
        """The MedicationRequest, if the caller may see it; 404 alike when unknown."""
        what = f"Prescription {mr_id}"
        if not _ID.match(mr_id):
            raise not_found(what)
        try:
            stored = self.repository.read(_SERVER, MR, mr_id, conn=conn)
        except FhirError:
            raise not_found(what) from None
        if not (viewer or Viewer.of(ctx)).sees(conn, stored.resource()):
            raise not_found(what)
        return stored

    @staticmethod
    def _writer(ctx: RequestContext, actor: str) -> RequestContext:
        """The internal context the writes run with: the caller as actor (audit,
        Provenance), the rights already checked here."""
        return RequestContext(
            actor=actor,
            client_id=ctx.client_id,
            remote_addr=ctx.remote_addr,
            request_id=ctx.request_id,
            user_id=ctx.user_id,
            internal=True,
        )

    def _write(
        self,
        conn: Connection,
        ctx: RequestContext,
        me: str,
        order: PrescriptionOrder,
        patient_id: str,
        *,
        prior: str | None = None,
    ) -> Issued:
        """Write the MedicationRequest, check allergies, write the alerts, publish."""
        now = format_instant(now_utc())
        resource = medication_request(order, patient_id, me, now, prior=prior)
        stored = self.repository.create(self._writer(ctx, me), conn, resource)
        medication = order.medication
        display = medication.display or ""
        found = allergies.find_matches(
            medication.system or "",
            medication.code or "",
            display,
            self._allergies(conn, patient_id),
        )
        issues = []
        for hit in found:
            alert = allergy_alert(
                patient_id, stored.id, hit.allergy_id, allergies.detail(display, hit), now
            )
            issues.append(self.repository.create(_SERVER, conn, alert).resource())
        self.core.jobs.publish(conn, ISSUED, _payload(stored.resource()))
        return Issued(stored, issues)

    def _cancel(
        self,
        conn: Connection,
        ctx: RequestContext,
        stored: StoredResource,
        resource: dict[str, Any],
        reason: str,
    ) -> StoredResource:
        """Set status ``cancelled`` with ``reason``; publish ``prescription.cancelled``."""
        resource = dict(resource)
        resource["status"] = "cancelled"
        resource["statusReason"] = {"text": reason}
        try:
            written = self.repository.update(
                self._writer(ctx, ctx.actor),
                conn,
                MR,
                stored.id,
                resource,
                if_match=stored.version_id,
            ).stored
        except FhirError as exc:
            if exc.status in (409, 412):
                raise Problem(
                    409,
                    f"MedicationRequest/{stored.id} changed meanwhile; read it again and retry",
                    title="Conflict",
                ) from None
            raise
        self.core.jobs.publish(conn, CANCELLED, {**_payload(resource), "reason": reason})
        return written

    def _allergies(self, conn: Connection, patient_id: str) -> list[dict[str, Any]]:
        request = self.repository.parse_search("AllergyIntolerance", [("patient", patient_id)])
        found = self.repository.search(_SERVER, request, conn=conn, limit=ALLERGY_LIMIT)
        return [m.resource() for m in found.matches]

    def _issues(self, conn: Connection, mr_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The DetectedIssues implicating each of the MedicationRequests."""
        if not mr_ids:
            return {}
        refs = ",".join(f"{MR}/{i}" for i in mr_ids)
        request = self.repository.parse_search(
            "DetectedIssue", [("implicated", refs), ("_sort", "_lastUpdated")]
        )
        found = self.repository.search(_SERVER, request, conn=conn, limit=10 * len(mr_ids) + 10)
        by_request: dict[str, list[dict[str, Any]]] = {}
        wanted = set(mr_ids)
        for match in found.matches:
            issue = match.resource()
            for ref in issue.get("implicated") or []:
                rid = reference_id(ref, MR)
                if rid in wanted:
                    by_request.setdefault(rid, []).append(issue)
        return by_request

    def _view(self, conn: Connection, resource: dict[str, Any]) -> dict[str, Any]:
        issues = self._issues(conn, [resource["id"]]).get(resource["id"], [])
        return prescription_view(resource, issues)

    @staticmethod
    def _statuses(raw: str | None) -> list[str]:
        if raw is None or not raw.strip():
            return []
        statuses = [s.strip() for s in raw.split(",") if s.strip()]
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise Problem(
                400,
                f"status: unknown status {', '.join(unknown)}; known: {', '.join(STATUSES)}",
                title="Bad Request",
                errors={"query": {"status": [f"must be one of {', '.join(STATUSES)}"]}},
            )
        return statuses


def _payload(resource: dict[str, Any]) -> dict[str, Any]:
    """The ``prescription.*`` event payload (docs/care_workflows.md)."""
    return {
        "medication_request": resource["id"],
        "patient": reference_id(resource.get("subject"), "Patient"),
        "practitioner": reference_id(resource.get("requester"), "Practitioner"),
        "medication": medication_display(resource),
    }
