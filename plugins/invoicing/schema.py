"""The invoicing plugin's tables.

* ``invoicing_invoice``: one row per issued Invoice, the amounts as integer minor units
  (the FHIR Invoice carries them as decimals). ``appointment_id`` is unique: it is what makes
  issuing idempotent (one invoice per consultation, however often the event arrives).
* ``invoicing_counter``: one row per calendar year holding the last invoice number given
  out that year. Incrementing it under a row lock, in the transaction that issues the
  invoice, makes numbers unique and gapless (a rolled-back issue returns its number).

Both are created by the plugin's own Alembic branch (``migrations/versions``); they are
declared on the core's ``Base`` so the test suite's cleanup and row counts cover them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import UTCDateTime


class InvoiceRow(Base):
    """One issued invoice."""

    __tablename__ = "invoicing_invoice"

    invoice_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    """The FHIR id of the Invoice."""
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    """``INV-<YYYY>-<NNNNNN>``, also the Invoice's identifier."""
    appointment_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    patient_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    practitioner_id: Mapped[str] = mapped_column(sa.String(64))
    appointment_start: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    """The consultation's start as the event gave it (ISO 8601 with its offset)."""
    currency: Mapped[str] = mapped_column(sa.String(3))
    net: Mapped[int] = mapped_column(sa.BigInteger)
    tax: Mapped[int] = mapped_column(sa.BigInteger)
    gross: Mapped[int] = mapped_column(sa.BigInteger)
    tax_rate_bp: Mapped[int] = mapped_column(sa.Integer)
    """The tax rate applied, in basis points (kept: the configured rate may change later)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_invoicing_invoice_created", "created_at", "invoice_id"),)


class CounterRow(Base):
    """The last invoice number given out in one year."""

    __tablename__ = "invoicing_counter"

    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(sa.BigInteger)
