"""Gathering what an invoice's PDF shows: the plugin's row (number, amounts, the rate
applied, when the consultation took place), the names on the FHIR Patient and Practitioner,
and the service line of the FHIR Invoice. Resources that are gone print as ``(unknown)``
rather than failing: the invoice stands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from plugins.invoicing.config import issuer_name
from plugins.invoicing.issuing import ACTOR
from plugins.invoicing.pdf import InvoiceDocument

UNKNOWN = "(unknown)"


def _resource(core: Any, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    try:
        return core.repository.read(
            RequestContext.system(ACTOR), resource_type, resource_id
        ).resource()
    except FhirError:
        return None


def person_name(resource: dict[str, Any] | None) -> str:
    """A person's display name: their official (else first) HumanName's text, or prefix,
    given names and family name."""
    names = (resource or {}).get("name") or []
    if not names:
        return UNKNOWN
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if name.get("text"):
        return str(name["text"])
    parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
    return " ".join(str(p) for p in parts if p) or UNKNOWN


def service_text(invoice: dict[str, Any] | None) -> str:
    """The service line of a FHIR Invoice: its text, else its coding's display or code."""
    lines = (invoice or {}).get("lineItem") or [{}]
    concept = lines[0].get("chargeItemCodeableConcept") or {}
    coding = (concept.get("coding") or [{}])[0]
    return str(concept.get("text") or coding.get("display") or coding.get("code") or "Consultation")


def when(start: str | None) -> str:
    """The consultation's start as printed: its date and time in the offset the
    appointment was booked in (``2026-12-01 09:00 (UTC+01:00)``)."""
    if not start:
        return UNKNOWN
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        return start
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    offset = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M") + f" (UTC{offset[:3]}:{offset[3:]})"


def document_of(core: Any, row: Row[Any]) -> InvoiceDocument:
    """The PDF content of the invoice ``row``."""
    return InvoiceDocument(
        issuer=issuer_name(core.settings),
        number=row.number,
        date=row.created_at.strftime("%Y-%m-%d"),
        patient_name=person_name(_resource(core, "Patient", row.patient_id)),
        practitioner_name=person_name(_resource(core, "Practitioner", row.practitioner_id)),
        appointment=when(row.appointment_start),
        service=service_text(_resource(core, "Invoice", row.invoice_id)),
        currency=row.currency,
        net=row.net,
        tax=row.tax,
        gross=row.gross,
        tax_rate_bp=row.tax_rate_bp,
    )
