"""The embedded backend's tables, for SQLAlchemy Core statements.

They are created by the ``search`` migration branch (``search/migrations``), which also adds
what differs by database: the ``tsv`` column on PostgreSQL, the FTS5 tables on SQLite. They
live on a metadata of their own, not the core's, because the core never reads them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

document = sa.Table(
    "search_document",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("doc_id", sa.String(200), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("keywords", sa.Text(), nullable=False),
    sa.Column("url", sa.Text()),
    sa.Column("patient_id", sa.String(64)),
    sa.Column("fields", sa.Text(), nullable=False),
    sa.Column("generation", sa.BigInteger(), nullable=False),
)
"""One row per document (``kind`` and ``doc_id`` unique)."""

term = sa.Table("search_term", metadata, sa.Column("term", sa.String(40), primary_key=True))
"""Every word ever indexed (typo correction; words of deleted documents stay, harmlessly)."""

term_key = sa.Table(
    "search_term_key",
    metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("term", sa.String(40), primary_key=True),
)
"""Deletion keys of each word (:func:`search.analysis.deletion_keys`)."""
