"""invoicing: issued invoices and the yearly invoice-number counters

Revision ID: invoicing_0001
Revises:
Create Date: 2026-11-22

A branch of its own (``invoicing``), after the core's jobs outbox (``0009``). No foreign
keys: the Invoice, Patient and Appointment live in the FHIR tables and are referenced by id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import UTCDateTime

revision = "invoicing_0001"
down_revision = None
branch_labels = ("invoicing",)
depends_on = "0009"


def upgrade() -> None:
    op.create_table(
        "invoicing_invoice",
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("appointment_start", sa.String(64), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoicing_invoice")),
        sa.UniqueConstraint("number", name=op.f("uq_invoicing_invoice_number")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_invoicing_invoice_appointment_id")),
    )
    op.create_index("ix_invoicing_invoice_patient_id", "invoicing_invoice", ["patient_id"])
    op.create_index(
        "ix_invoicing_invoice_created", "invoicing_invoice", ["created_at", "invoice_id"]
    )
    op.create_table(
        "invoicing_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_invoicing_counter")),
    )


def downgrade() -> None:
    op.drop_table("invoicing_counter")
    op.drop_index("ix_invoicing_invoice_created", table_name="invoicing_invoice")
    op.drop_index("ix_invoicing_invoice_patient_id", table_name="invoicing_invoice")
    op.drop_table("invoicing_invoice")
