"""jobs: the outbox table of background jobs

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import BigIntPK, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_outbox",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("dispatched_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'dispatched', 'done', 'failed')",
            name=op.f("ck_job_outbox_state_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_job_outbox_idempotency_key")),
    )
    op.create_index(
        "ix_job_outbox_pending_due",
        "job_outbox",
        ["available_at"],
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_job_outbox_dispatched_lease",
        "job_outbox",
        ["dispatched_at"],
        postgresql_where=sa.text("state = 'dispatched'"),
        sqlite_where=sa.text("state = 'dispatched'"),
    )
    op.create_index("ix_job_outbox_state_finished", "job_outbox", ["state", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_job_outbox_state_finished", table_name="job_outbox")
    op.drop_index("ix_job_outbox_dispatched_lease", table_name="job_outbox")
    op.drop_index("ix_job_outbox_pending_due", table_name="job_outbox")
    op.drop_table("job_outbox")
