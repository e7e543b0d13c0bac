"""oauth: clients, authorization codes, refresh tokens, client-assertion jti, launch contexts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    """A timezone-aware UTC timestamp column."""
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=True),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("grant_types", sa.String(200), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("jwks_uri", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oauth_client")),
    )
    op.create_table(
        "oauth_authorization_code",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(10), nullable=False),
        sa.Column("nonce", sa.String(255), nullable=True),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("encounter", sa.String(64), nullable=True),
        sa.Column("fhir_context", sa.Text(), nullable=True),
        sa.Column("need_patient_banner", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.Column("grant_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_oauth_authorization_code_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
            name=op.f("fk_oauth_authorization_code_user_id_auth_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oauth_authorization_code")),
    )
    op.create_index(
        "ix_oauth_authorization_code_expires_at", "oauth_authorization_code", ["expires_at"]
    )
    op.create_table(
        "oauth_grant",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("encounter", sa.String(64), nullable=True),
        sa.Column("fhir_context", sa.Text(), nullable=True),
        sa.Column("need_patient_banner", sa.Boolean(), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_oauth_grant_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
            name=op.f("fk_oauth_grant_user_id_auth_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_grant")),
    )
    op.create_index("ix_oauth_grant_client_id", "oauth_grant", ["client_id"])
    op.create_index("ix_oauth_grant_user_id", "oauth_grant", ["user_id"])
    op.create_table(
        "oauth_refresh_token",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(36), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("rotated_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["oauth_grant.id"],
            name=op.f("fk_oauth_refresh_token_grant_id_oauth_grant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth_refresh_token")),
    )
    op.create_index("ix_oauth_refresh_token_grant_id", "oauth_refresh_token", ["grant_id"])
    op.create_table(
        "oauth_access_token",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(36), nullable=False),
        _ts("expires_at"),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["oauth_grant.id"],
            name=op.f("fk_oauth_access_token_grant_id_oauth_grant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oauth_access_token")),
    )
    op.create_index("ix_oauth_access_token_grant_id", "oauth_access_token", ["grant_id"])
    op.create_table(
        "oauth_jti",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_oauth_jti")),
    )
    op.create_index("ix_oauth_jti_expires_at", "oauth_jti", ["expires_at"])
    op.create_table(
        "oauth_launch",
        sa.Column("launch_hash", sa.String(64), nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("encounter", sa.String(64), nullable=True),
        sa.Column("fhir_context", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(140), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        _ts("created_at"),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("launch_hash", name=op.f("pk_oauth_launch")),
    )
    op.create_index("ix_oauth_launch_expires_at", "oauth_launch", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_launch_expires_at", table_name="oauth_launch")
    op.drop_table("oauth_launch")
    op.drop_index("ix_oauth_jti_expires_at", table_name="oauth_jti")
    op.drop_table("oauth_jti")
    op.drop_index("ix_oauth_access_token_grant_id", table_name="oauth_access_token")
    op.drop_table("oauth_access_token")
    op.drop_index("ix_oauth_refresh_token_grant_id", table_name="oauth_refresh_token")
    op.drop_table("oauth_refresh_token")
    op.drop_index("ix_oauth_grant_user_id", table_name="oauth_grant")
    op.drop_index("ix_oauth_grant_client_id", table_name="oauth_grant")
    op.drop_table("oauth_grant")
    op.drop_index("ix_oauth_authorization_code_expires_at", table_name="oauth_authorization_code")
    op.drop_table("oauth_authorization_code")
    op.drop_table("oauth_client")
