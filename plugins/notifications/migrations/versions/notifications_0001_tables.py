"""notifications: preferences, push devices and the delivery log

Revision ID: notifications_0001
Revises:
Create Date: 2026-11-28

A branch of its own (``notifications``). The tables refer to ``auth_user`` (core revision
0006), so the branch depends on the core's head at the time, 0009.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import BigIntPK, UTCDateTime

revision = "notifications_0001"
down_revision = None
branch_labels = ("notifications",)
depends_on = "0009"


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"],
        ["auth_user.id"],
        name=op.f(f"fk_{table}_user_id_auth_user"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "notifications_preference",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("sms_enabled", sa.Boolean(), nullable=False),
        sa.Column("push_enabled", sa.Boolean(), nullable=False),
        sa.Column("opted_out_events", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notifications_preference")),
        _user_fk("notifications_preference"),
    )
    op.create_table(
        "notifications_device",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("token", sa.String(512), nullable=False),
        sa.Column("platform", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications_device")),
        sa.UniqueConstraint("token", name=op.f("uq_notifications_device_token")),
        _user_fk("notifications_device"),
    )
    op.create_index("ix_notifications_device_user_id", "notifications_device", ["user_id"])
    op.create_table(
        "notifications_delivery",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(140), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("destination", sa.String(512), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(40), nullable=True),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'failed')",
            name=op.f("ck_notifications_delivery_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications_delivery")),
        sa.UniqueConstraint("key", name=op.f("uq_notifications_delivery_key")),
        _user_fk("notifications_delivery"),
    )
    op.create_index(
        "ix_notifications_delivery_user_created",
        "notifications_delivery",
        ["user_id", "created_at"],
    )
    op.create_index(
        "ix_notifications_delivery_status_created",
        "notifications_delivery",
        ["status", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_delivery_status_created", table_name="notifications_delivery")
    op.drop_index("ix_notifications_delivery_user_created", table_name="notifications_delivery")
    op.drop_table("notifications_delivery")
    op.drop_index("ix_notifications_device_user_id", table_name="notifications_device")
    op.drop_table("notifications_device")
    op.drop_table("notifications_preference")
