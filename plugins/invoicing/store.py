"""Reading the ``invoicing_invoice`` table for the API: one invoice, or a page of them
restricted to the patients a caller may see, newest first."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from platform_core.fhir.instants import format_instant
from plugins.invoicing.schema import InvoiceRow

_INVOICES = InvoiceRow.__table__


def get_invoice(conn: Connection, invoice_id: str) -> Row[Any] | None:
    """The row of invoice ``invoice_id``, or None."""
    return conn.execute(sa.select(_INVOICES).where(_INVOICES.c.invoice_id == invoice_id)).first()


def list_invoices(
    conn: Connection, patients: Collection[str] | None, *, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    """A page of invoices of ``patients`` (None: every patient's), newest first, and how
    many there are in all."""
    where = [] if patients is None else [_INVOICES.c.patient_id.in_(sorted(patients))]
    total = conn.execute(sa.select(sa.func.count()).select_from(_INVOICES).where(*where)).scalar()
    rows = conn.execute(
        sa.select(_INVOICES)
        .where(*where)
        .order_by(_INVOICES.c.created_at.desc(), _INVOICES.c.number.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total or 0)


def as_item(row: Row[Any]) -> dict[str, Any]:
    """The API's JSON form of an invoice (amounts in integer minor units)."""
    return {
        "invoice": row.invoice_id,
        "number": row.number,
        "appointment": row.appointment_id,
        "patient": row.patient_id,
        "practitioner": row.practitioner_id,
        "date": format_instant(row.created_at),
        "currency": row.currency,
        "net": row.net,
        "tax": row.tax,
        "gross": row.gross,
        "tax_rate_bp": row.tax_rate_bp,
        "pdf": f"/api/invoicing/invoices/{row.invoice_id}/pdf",
    }
