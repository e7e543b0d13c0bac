"""identity: sign-up, password reset and verification tokens, login throttling

Adds the identity module's own tables (``platform_core/identity/schema.py``): single-use
mailed links, server-side browser sessions and the last TOTP step per user. Login throttling
uses ``auth_user.failed_logins`` and ``locked_until`` from 0006.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_token",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
            name=op.f("fk_identity_token_user_id_auth_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_identity_token")),
    )
    op.create_index("ix_identity_token_user_id", "identity_token", ["user_id"])
    op.create_table(
        "identity_session",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
            name=op.f("fk_identity_session_user_id_auth_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_identity_session")),
    )
    op.create_index("ix_identity_session_user_id", "identity_session", ["user_id"])
    op.create_table(
        "identity_totp_step",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
            name=op.f("fk_identity_totp_step_user_id_auth_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_identity_totp_step")),
    )


def downgrade() -> None:
    op.drop_table("identity_totp_step")
    op.drop_index("ix_identity_session_user_id", table_name="identity_session")
    op.drop_table("identity_session")
    op.drop_index("ix_identity_token_user_id", table_name="identity_token")
    op.drop_table("identity_token")
