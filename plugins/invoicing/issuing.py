"""Issuing an Invoice for a fulfilled consultation.

Flow (all in the caller's transaction, the job's ``ctx.conn``):

1. :func:`charge_from_event` reads the ``appointment.fulfilled`` payload into a
   :class:`Charge` (None when the consultation has no price: nothing to invoice), refusing a
   payload that cannot be invoiced with :class:`InvoiceRefused` or
   :class:`~plugins.invoicing.money.UnknownCurrency`.
2. :func:`issue` returns at once when the appointment already has an invoice (a second
   delivery, a duplicate event). Otherwise it locks the year's number counter, which
   serialises issuing, checks again (a concurrent issuer may have just committed one), takes
   the next number, stores the FHIR Invoice and the ``invoicing_invoice`` row, and publishes
   ``invoice.issued``. The unique ``appointment_id`` stays as the last guard.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.fhir.context import RequestContext
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.fhir.repository import new_id
from plugins.invoicing import numbering
from plugins.invoicing.money import exponent, fhir_money, rate_factor, rate_percent, tax_of
from plugins.invoicing.schema import InvoiceRow

log = logging.getLogger(__name__)

INVOICE_ISSUED = "invoice.issued"
NUMBER_SYSTEM = "https://fireside.health/fhir/sid/invoice-number"
SERVICE_SYSTEM = "https://fireside.health/fhir/CodeSystem/service"
APPOINTMENT_EXTENSION = "https://fireside.health/fhir/StructureDefinition/invoice-appointment"
PARTICIPANT_ROLE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "PPRF",
            "display": "primary performer",
        }
    ]
}
"""The practitioner's role on the Invoice: HL7 v3 ParticipationType ``PPRF``, the primary
performer of the service invoiced."""
ACTOR = "invoicing"
"""The actor the plugin's FHIR writes are recorded under."""

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_INVOICES = InvoiceRow.__table__


class InvoiceRefused(ValueError):
    """The event cannot be invoiced as it is (a malformed payload): retrying cannot help."""


@dataclass(frozen=True)
class Charge:
    """What one fulfilled consultation is invoiced for."""

    appointment: str
    patient: str
    practitioner: str
    start: str | None
    service: str | None
    service_display: str | None
    net: int
    """Minor units."""
    currency: str


@dataclass(frozen=True)
class Issued:
    """An invoice as :func:`issue` stored it."""

    invoice_id: str
    number: str
    created: bool
    """False when the appointment had its invoice already."""


def _fhir_id(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not _ID.match(value):
        raise InvoiceRefused(f"The event's {key!r} must be a FHIR id, not {value!r}")
    return value


def _text(payload: dict[str, Any], key: str, limit: int) -> str | None:
    value = payload.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def charge_from_event(payload: dict[str, Any]) -> Charge | None:
    """The charge of an ``appointment.fulfilled`` payload; None when ``price`` is null."""
    appointment = _fhir_id(payload, "appointment")
    price = payload.get("price")
    if price is None:
        return None
    if not isinstance(price, dict):
        raise InvoiceRefused(f"The event's price must be money or null, not {price!r}")
    amount, currency = price.get("amount"), price.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvoiceRefused(
            f"The event's price.amount must be a non-negative whole number of minor units, "
            f"not {amount!r}"
        )
    exponent(currency)  # UnknownCurrency for a code we cannot write
    return Charge(
        appointment=appointment,
        patient=_fhir_id(payload, "patient"),
        practitioner=_fhir_id(payload, "practitioner"),
        start=_text(payload, "start", 64),
        service=_text(payload, "service", 200),
        service_display=_text(payload, "service_display", 500),
        net=amount,
        currency=currency,
    )


def existing_invoice(conn: Connection, appointment_id: str) -> str | None:
    """The id of the appointment's invoice, if it has one."""
    return conn.execute(
        sa.select(_INVOICES.c.invoice_id).where(_INVOICES.c.appointment_id == appointment_id)
    ).scalar()


def _service_concept(charge: Charge) -> dict[str, Any]:
    if charge.service is None:
        return {"text": charge.service_display or "Consultation"}
    coding: dict[str, Any] = {"system": SERVICE_SYSTEM, "code": charge.service}
    if charge.service_display:
        coding["display"] = charge.service_display
    concept: dict[str, Any] = {"coding": [coding]}
    if charge.service_display:
        concept["text"] = charge.service_display
    return concept


def invoice_resource(
    charge: Charge, number: str, *, tax: int, rate_bp: int, date: datetime
) -> dict[str, Any]:
    """The FHIR R4 Invoice of ``charge``: Money values are Decimals with exactly the
    currency's decimals, which the core writes as they are."""
    money = fhir_money
    tax_component: dict[str, Any] = {
        "type": "tax",
        "code": {"text": f"Tax {rate_percent(rate_bp)}"},
        "factor": rate_factor(rate_bp),
        "amount": money(tax, charge.currency),
    }
    return {
        "resourceType": "Invoice",
        "extension": [
            {
                "url": APPOINTMENT_EXTENSION,
                "valueReference": {"reference": f"Appointment/{charge.appointment}"},
            }
        ],
        "identifier": [{"system": NUMBER_SYSTEM, "value": number}],
        "status": "issued",
        "subject": {"reference": f"Patient/{charge.patient}"},
        "recipient": {"reference": f"Patient/{charge.patient}"},
        "date": format_instant(date),
        "participant": [
            {
                "role": PARTICIPANT_ROLE,
                "actor": {"reference": f"Practitioner/{charge.practitioner}"},
            }
        ],
        "lineItem": [
            {
                "sequence": 1,
                "chargeItemCodeableConcept": _service_concept(charge),
                "priceComponent": [
                    {"type": "base", "amount": money(charge.net, charge.currency)},
                    tax_component,
                ],
            }
        ],
        "totalNet": money(charge.net, charge.currency),
        "totalGross": money(charge.net + tax, charge.currency),
    }


def issue(core: Any, conn: Connection, charge: Charge, *, rate_bp: int) -> Issued:
    """Issue the invoice of ``charge`` in the transaction open on ``conn`` (idempotent per
    appointment), and publish ``invoice.issued`` in it."""
    found = existing_invoice(conn, charge.appointment)
    if found is not None:
        return Issued(found, _number_of(conn, found), created=False)
    now = now_utc()
    numbering.lock_year(conn, now.year)
    found = existing_invoice(conn, charge.appointment)  # issued while we waited for the lock
    if found is not None:
        return Issued(found, _number_of(conn, found), created=False)
    number = numbering.next_number(conn, now.year)
    tax = tax_of(charge.net, rate_bp)
    invoice_id = new_id()
    conn.execute(
        _INVOICES.insert().values(
            invoice_id=invoice_id,
            number=number,
            appointment_id=charge.appointment,
            patient_id=charge.patient,
            practitioner_id=charge.practitioner,
            appointment_start=charge.start,
            currency=charge.currency,
            net=charge.net,
            tax=tax,
            gross=charge.net + tax,
            tax_rate_bp=rate_bp,
            created_at=now,
        )
    )
    resource = invoice_resource(charge, number, tax=tax, rate_bp=rate_bp, date=now)
    core.repository.create(RequestContext.system(ACTOR), conn, resource, resource_id=invoice_id)
    core.jobs.publish(
        conn,
        INVOICE_ISSUED,
        {
            "invoice": invoice_id,
            "patient": charge.patient,
            "appointment": charge.appointment,
            "total": {"amount": charge.net + tax, "currency": charge.currency},
        },
    )
    return Issued(invoice_id, number, created=True)


def _number_of(conn: Connection, invoice_id: str) -> str:
    return conn.execute(
        sa.select(_INVOICES.c.number).where(_INVOICES.c.invoice_id == invoice_id)
    ).scalar_one()
