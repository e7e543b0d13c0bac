"""scheduling: availability rules, leave, and the slot bookkeeping that makes booking race-free

Revision ID: scheduling_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import UTCDateTime

revision = "scheduling_0001"
down_revision = None
branch_labels = ("scheduling",)
depends_on = "0009"


def upgrade() -> None:
    op.create_table(
        "scheduling_rule",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("practitioner_id", sa.String(64), nullable=False, index=True),
        sa.Column("schedule_id", sa.String(64), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=True),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("service_display", sa.String(200), nullable=False),
        sa.Column("modes", sa.String(40), nullable=False),
        sa.Column("price_amount", sa.BigInteger(), nullable=True),
        sa.Column("price_currency", sa.String(3), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("weekdays", sa.String(20), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_minutes", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "scheduling_leave",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("practitioner_id", sa.String(64), nullable=False, index=True),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "scheduling_slot",
        sa.Column("slot_id", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.String(36), nullable=False, index=True),
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=True),
        sa.Column("hold_expires_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("practitioner_id", "start", name="uq_scheduling_slot_start"),
    )
    op.create_index(
        "ix_scheduling_slot_free", "scheduling_slot", ["practitioner_id", "status", "start"]
    )
    op.create_index("ix_scheduling_slot_hold", "scheduling_slot", ["status", "hold_expires_at"])


def downgrade() -> None:
    op.drop_table("scheduling_slot")
    op.drop_table("scheduling_leave")
    op.drop_table("scheduling_rule")
