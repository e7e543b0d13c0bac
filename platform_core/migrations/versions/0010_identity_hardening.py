"""identity hardening: rate-limit counters, room for sealed TOTP secrets

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_throttle",
        sa.Column("bucket", sa.String(300), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window"),
    )
    op.create_index("ix_identity_throttle_expires", "identity_throttle", ["expires"])
    # A sealed secret (platform_core.auth.sealing) is longer than the 32-character
    # base32 secret it holds.
    with op.batch_alter_table("auth_user") as batch:
        batch.alter_column(
            "totp_secret", existing_type=sa.String(64), type_=sa.Text(), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_user") as batch:
        batch.alter_column(
            "totp_secret", existing_type=sa.Text(), type_=sa.String(64), existing_nullable=True
        )
    op.drop_index("ix_identity_throttle_expires", table_name="identity_throttle")
    op.drop_table("identity_throttle")
