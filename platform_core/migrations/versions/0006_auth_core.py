"""auth core: users, the patients they act for, token signing keys, revoked tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_user",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("fhir_user", sa.String(140), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("email_verified_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("verified_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("token_generation", sa.Integer(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_user")),
        sa.UniqueConstraint("email", name=op.f("uq_auth_user_email")),
    )
    op.create_table(
        "auth_user_patient",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("relationship", sa.String(20), nullable=False),
        sa.Column("related_person_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
            name=op.f("fk_auth_user_patient_user_id_auth_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "patient_id", "relationship", name=op.f("pk_auth_user_patient")
        ),
    )
    op.create_index("ix_auth_user_patient_patient", "auth_user_patient", ["patient_id"])
    op.create_table(
        "oauth_signing_key",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("alg", sa.String(10), nullable=False),
        sa.Column("private_jwk", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sign_until", UTCDateTime(timezone=True), nullable=False),
        sa.Column("verify_until", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_oauth_signing_key")),
    )
    op.create_table(
        "oauth_revoked_token",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oauth_revoked_token")),
    )
    op.create_index("ix_oauth_revoked_token_revoked_at", "oauth_revoked_token", ["revoked_at"])


def downgrade() -> None:
    op.drop_table("oauth_revoked_token")
    op.drop_table("oauth_signing_key")
    op.drop_index("ix_auth_user_patient_patient", table_name="auth_user_patient")
    op.drop_table("auth_user_patient")
    op.drop_table("auth_user")
