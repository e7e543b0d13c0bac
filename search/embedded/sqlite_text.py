"""SQLite FTS5 for the embedded backend.

``search_fts`` holds each document's folded words (title, keywords, body; its rowid is the
document's id), with prefix indexes for 2, 3 and 4 letters so that autocomplete does not
scan the term list. Queries are FTS5 expressions built from the parsed query, every word a
quoted string, so FTS5's own operators in the user's text are never interpreted:
``("word" OR "correction") AND "pre"* AND "a phrase" NOT "excluded"``. ``bm25`` ranks with
column weights. SQLite serves small installations, so every match is ranked; counts and
facets stop at :data:`~search.backend.TOTAL_CAP`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from platform_core.db.engine import write_transaction
from search.backend import TOTAL_CAP, SearchQuery, Visibility
from search.embedded.rows import DocumentRow, Found, MatchPlan
from search.embedded.schema import document

BM25 = "bm25(search_fts, 10.0, 5.0, 1.0)"
"""Column weights of title, keywords and body. bm25 is lower for better matches."""

_UPSERT = (
    "INSERT INTO search_document "
    "(kind, doc_id, title, body, keywords, url, patient_id, fields, generation) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, doc_id) DO UPDATE SET title = excluded.title, body = excluded.body, "
    "keywords = excluded.keywords, url = excluded.url, patient_id = excluded.patient_id, "
    "fields = excluded.fields, generation = excluded.generation RETURNING id"
)
_fts = sa.table("search_fts", sa.column("rowid"))


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def match_expression(plan: MatchPlan) -> str:
    """The plan as an FTS5 query (see the module docstring)."""
    parts: list[str] = []
    for word in plan.parsed.words:
        options = [_quote(w) + ("*" if prefix else "") for w, prefix in plan.options(word)]
        parts.append("(" + " OR ".join(options) + ")")
    for phrase in plan.parsed.phrases:
        parts.append(_quote(" ".join(phrase)))
    expression = " AND ".join(parts)
    for phrase in plan.parsed.excluded:
        expression += " NOT " + _quote(" ".join(phrase))
    return expression


class SqliteText:
    """The SQLite half of the embedded backend."""

    def write(self, conn: Connection, rows: Sequence[DocumentRow]) -> None:
        fts_rows = []
        for r in rows:
            row_id = conn.exec_driver_sql(
                _UPSERT,
                (
                    r.kind,
                    r.doc_id,
                    r.title,
                    r.body,
                    r.keywords,
                    r.url,
                    r.patient_id,
                    r.fields,
                    r.generation,
                ),
            ).scalar_one()
            fts_rows.append(
                (
                    row_id,
                    " ".join(r.title_words),
                    " ".join(r.keyword_words),
                    " ".join(r.body_words),
                )
            )
        if fts_rows:
            conn.exec_driver_sql(
                "DELETE FROM search_fts WHERE rowid = ?", [(row[0],) for row in fts_rows]
            )
            conn.exec_driver_sql(
                "INSERT INTO search_fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
                fts_rows,
            )

    def after_rebuild(self, engine: Engine) -> None:
        """Merge the FTS5 index's segments after a rebuild's many small writes."""
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("INSERT INTO search_fts (search_fts) VALUES ('optimize')")

    def remove(self, conn: Connection, where: Any) -> None:
        """Delete the documents matching ``where`` and their full-text rows."""
        ids = sa.select(document.c.id).where(where).scalar_subquery()
        conn.execute(sa.delete(_fts).where(_fts.c.rowid.in_(ids)))
        conn.execute(sa.delete(document).where(where))

    def clear(self, conn: Connection) -> None:
        for table in ("search_fts", "search_term_trigram", "search_term_key", "search_term"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.exec_driver_sql("DELETE FROM search_document")

    def search(self, conn: Connection, plan: MatchPlan, query: SearchQuery) -> Found:
        """One page of matches ranked by bm25, with the capped count and the kind facets."""
        d = document.c
        joined = document.join(_fts, _fts.c.rowid == d.id)
        match = sa.literal_column("search_fts").op("MATCH")(match_expression(plan))
        where = sa.and_(match, visibility_clause(query.visibility))
        chosen = where if query.kinds is None else sa.and_(where, d.kind.in_(sorted(query.kinds)))
        counted = sa.select(d.kind).select_from(joined).where(where).limit(TOTAL_CAP + 1)
        facets = Counter(conn.execute(counted).scalars())
        total = sum(facets.values())
        if query.kinds is not None:
            total = len(conn.execute(counted.where(chosen)).all())
        score = (-sa.literal_column(BM25)).label("score")
        rows = conn.execute(
            sa.select(d.kind, d.doc_id, d.title, d.body, d.url, d.fields, score)
            .select_from(joined)
            .where(chosen)
            .order_by(sa.desc("score"), d.id)
            .limit(query.size)
            .offset(query.offset)
        ).all()
        return Found(list(rows), dict(facets), min(total, TOTAL_CAP), total <= TOTAL_CAP)


def visibility_clause(visibility: Visibility) -> Any:
    """Which rows ``visibility`` lets through, as a condition on ``search_document``."""
    d = document.c
    if visibility.everything:
        return sa.true()
    allowed = [d.patient_id.is_(None)]
    for kinds, patients in visibility.groups():
        kind_match = d.kind.in_(kinds)
        if patients is not None:
            kind_match = sa.and_(kind_match, d.patient_id.in_(sorted(patients)))
        allowed.append(kind_match)
    return sa.or_(*allowed)
