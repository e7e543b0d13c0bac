"""search: the embedded backend's documents, full-text index and typo vocabulary

Revision ID: search_0001
Revises:
Create Date: 2026-11-21

A branch of its own (``search``): nothing here refers to core tables. The full-text parts
differ by database: SQLite gets FTS5 tables (documents, and a trigram index of the
vocabulary); PostgreSQL a weighted ``tsvector`` of the whole document and one of the title
alone, each with a GIN index (the title one finds the best candidates of a broad query
cheaply), and a pg_trgm GIN index of the vocabulary.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "search_0001"
down_revision = None
branch_labels = ("search",)
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    word = sa.String(40, collation="C") if pg else sa.String(40)
    columns = [
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    ]
    if pg:
        columns.append(sa.Column("tsv", postgresql.TSVECTOR(), nullable=False))
        columns.append(sa.Column("title_tsv", postgresql.TSVECTOR(), nullable=False))
    op.create_table(
        "search_document",
        *columns,
        sa.UniqueConstraint("kind", "doc_id", name="uq_search_document_kind_doc_id"),
    )
    op.create_index("ix_search_document_patient", "search_document", ["patient_id"])
    op.create_index("ix_search_document_kind_gen", "search_document", ["kind", "generation"])
    op.create_table("search_term", sa.Column("term", word, primary_key=True))
    op.create_table(
        "search_term_key",
        sa.Column("key", word, primary_key=True),
        sa.Column("term", word, primary_key=True),
    )
    if pg:
        for column in ("tsv", "title_tsv"):
            op.execute(
                f"CREATE INDEX ix_search_document_{column} ON search_document "
                f"USING gin ({column}) WITH (fastupdate = on)"
            )
        op.execute("CREATE INDEX ix_search_term_trgm ON search_term USING gin (term gin_trgm_ops)")
        # Every index job rewrites a row: vacuum after 2% of them changed, not the default
        # 20% (dead rows slow every search that reads past them).
        op.execute(
            "ALTER TABLE search_document SET (autovacuum_vacuum_scale_factor = 0.02, "
            "autovacuum_analyze_scale_factor = 0.02)"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "title, keywords, body, tokenize = 'unicode61 remove_diacritics 0', "
            "prefix = '2 3 4')"
        )
        op.execute(
            "CREATE VIRTUAL TABLE search_term_trigram USING fts5(term, tokenize = 'trigram')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS search_term_trigram")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_term_key")
    op.drop_table("search_term")
    op.drop_table("search_document")
