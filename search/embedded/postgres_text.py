"""PostgreSQL full text for the embedded backend.

Each document carries a weighted ``tsvector`` (title A, keywords B, body C) and one of its
title alone, built here from the words of :mod:`search.analysis` and written as ``tsvector``
literals, so PostgreSQL's text parser (whose idea of a word depends on the database's
locale) never splits them differently from the query side. Queries are ``tsquery`` literals
built the same way: ``'word' | 'correction'`` per word, the prefix's expansions (or
``'pre':*``), ``<->`` chains for phrases, ``!`` for exclusions. GIN indexes answer ``@@``.

One statement answers a search, and it reads a bounded number of rows whatever the query:
reading, counting and ranking every match of a broad query (a surname matches thousands of
documents, a common word half the index) cost tens of milliseconds at a million documents.
It reads the first :data:`COUNT_WINDOW` matches (or as many as the page needs), counts and
facets them, and ranks them with ``ts_rank``, computed while the rows are read; when they
hold fewer title matches (those the weights put first) than the page needs, the first
:data:`TITLE_CANDIDATES` documents whose title matches are ranked with them. A search
with fewer matches than the window is counted and ranked exactly; a broader one answers
"at least" that many with approximate facets, and ranks the first matches and title
matches rather than all (measured in ``docs/benchmarks.md#global-search``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from platform_core.db.prepared import prepare_options
from search.backend import SearchQuery, Visibility
from search.embedded.rows import DocumentRow, Found, MatchPlan
from search.embedded.schema import document

MAX_POSITION = 16_383
"""PostgreSQL's largest tsvector position: words after it are not indexed."""
MAX_POSITIONS_PER_WORD = 255
RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"
"""``ts_rank`` weights of D, C, B, A: a title match weighs 2.5 times a keyword match and
5 times a body match."""

_COLUMNS = ("kind", "doc_id", "title", "body", "keywords", "url", "patient_id", "fields")
_ON_CONFLICT = (
    "ON CONFLICT (kind, doc_id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, "
    "keywords = EXCLUDED.keywords, url = EXCLUDED.url, patient_id = EXCLUDED.patient_id, "
    "fields = EXCLUDED.fields, generation = EXCLUDED.generation, tsv = EXCLUDED.tsv, "
    "title_tsv = EXCLUDED.title_tsv"
)
_INSERT = (
    "INSERT INTO search_document (kind, doc_id, title, body, keywords, url, patient_id, "
    "fields, generation, tsv, title_tsv) "
)
_UPSERT = (
    _INSERT + "SELECT u.kind, u.doc_id, u.title, u.body, u.keywords, u.url, u.patient_id, "
    "u.fields, %(generation)s, CAST(u.tsv AS tsvector), CAST(u.title_tsv AS tsvector) "
    "FROM unnest(CAST(%(kind)s AS text[]), CAST(%(doc_id)s AS text[]), "
    "CAST(%(title)s AS text[]), CAST(%(body)s AS text[]), CAST(%(keywords)s AS text[]), "
    "CAST(%(url)s AS text[]), CAST(%(patient_id)s AS text[]), CAST(%(fields)s AS text[]), "
    "CAST(%(tsv)s AS text[]), CAST(%(title_tsv)s AS text[])) "
    "AS u(kind, doc_id, title, body, keywords, url, patient_id, fields, tsv, title_tsv) "
    + _ON_CONFLICT
)
_UPSERT_ONE = (
    _INSERT + "VALUES (%(kind)s, %(doc_id)s, %(title)s, %(body)s, %(keywords)s, %(url)s, "
    "%(patient_id)s, %(fields)s, %(generation)s, CAST(%(tsv)s AS tsvector), "
    "CAST(%(title_tsv)s AS tsvector)) " + _ON_CONFLICT
)
"""One document, the common case (a FHIR write indexes its resource): plain values, which
psycopg sends for less than arrays of one, and prepared: an upsert's plan never depends on
its values."""
_PREPARED = prepare_options(generic=False)

COPY_THRESHOLD = 50
"""From how many documents a write goes through COPY (the reindex path)."""
_LOAD_TABLE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS search_load (kind text, doc_id text, title text, "
    "body text, keywords text, url text, patient_id text, fields text, tsv text, "
    "title_tsv text) ON COMMIT DELETE ROWS"
)
_UPSERT_LOADED = (
    "INSERT INTO search_document (kind, doc_id, title, body, keywords, url, patient_id, "
    "fields, generation, tsv, title_tsv) "
    "SELECT kind, doc_id, title, body, keywords, url, patient_id, fields, %(generation)s, "
    "CAST(tsv AS tsvector), CAST(title_tsv AS tsvector) FROM search_load "
    "ON CONFLICT (kind, doc_id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, "
    "keywords = EXCLUDED.keywords, url = EXCLUDED.url, patient_id = EXCLUDED.patient_id, "
    "fields = EXCLUDED.fields, generation = EXCLUDED.generation, tsv = EXCLUDED.tsv, "
    "title_tsv = EXCLUDED.title_tsv"
)

COUNT_WINDOW = 100
"""Matches read (counted, faceted and ranked) per search, or as deep as the page asked
for: beyond it the total is a lower bound."""
TITLE_CANDIDATES = 100
"""Title matches ranked besides the first matches when a query has more than
:data:`COUNT_WINDOW` of them and those hold fewer title matches than the page needs."""
_IN_TITLE = "title_tsv @@ CAST(%(title_q)s AS tsquery)"
_RANK = "ts_rank(CAST(%(weights)s AS real[]), tsv, CAST(%(q)s AS tsquery))"
_SEARCH = """
WITH matched AS MATERIALIZED (
    SELECT id, kind{matched_rank} FROM search_document
    WHERE tsv @@ CAST(%(q)s AS tsquery) AND {visible} LIMIT %(cap)s
), chosen AS MATERIALIZED (
    {chosen}
), titled AS MATERIALIZED (
    SELECT id, {rank} AS score FROM search_document
    WHERE (SELECT count(*) FROM chosen) >= %(cap)s
      AND (SELECT count(*) FROM chosen WHERE in_title) < %(depth)s
      AND title_tsv @@ CAST(%(title_q)s AS tsquery) {excluded} AND {visible} {kinds}
    LIMIT %(titled)s
), counts AS (
    SELECT COALESCE(json_object_agg(kind, n), '{{}}') AS facets,
           (SELECT count(*) FROM chosen) AS total
    FROM (SELECT kind, count(*) AS n FROM matched GROUP BY kind) AS f
), best AS (
    SELECT id, max(score) AS score
    FROM (SELECT id, score FROM chosen UNION ALL SELECT id, score FROM titled) AS c
    GROUP BY id ORDER BY score DESC, id LIMIT %(size)s OFFSET %(offset)s
)
SELECT counts.facets, counts.total, d.kind, d.doc_id, d.title, d.body, d.url, d.fields,
       best.score
FROM counts LEFT JOIN (best JOIN search_document AS d ON d.id = best.id) ON true
ORDER BY best.score DESC, best.id
"""


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(row: DocumentRow) -> str:
    """The document's words with positions and weights, as tsvector input text. Fields are
    one position apart, so a phrase never runs from one field into the next. (Words are
    letters and digits only, so quoting them needs no escapes.)"""
    positions: dict[str, list[str]] = {}
    pos = 0
    for weight, field_words in (
        ("A", row.title_words),
        ("B", row.keyword_words),
        ("C", row.body_words),
    ):
        for word in field_words[: max(0, MAX_POSITION - pos)]:
            pos += 1
            seen = positions.get(word)
            if seen is None:
                positions[word] = [f"{pos}{weight}"]
            elif len(seen) < MAX_POSITIONS_PER_WORD:
                seen.append(f"{pos}{weight}")
        pos += 1
    return " ".join([f"'{w}':{','.join(p)}" for w, p in positions.items()])


def title_literal(row: DocumentRow) -> str:
    """The title's words with positions (phrases work on it too)."""
    positions: dict[str, list[str]] = {}
    for pos, word in enumerate(row.title_words[:MAX_POSITIONS_PER_WORD], 1):
        positions.setdefault(word, []).append(str(pos))
    return " ".join([f"'{w}':{','.join(p)}" for w, p in positions.items()])


def tsquery_literal(plan: MatchPlan, *, exclusions: bool = True) -> str:
    """The plan as tsquery input text (see the module docstring)."""
    parts: list[str] = []
    for word in plan.parsed.words:
        options = [_quote(w) + (":*" if prefix else "") for w, prefix in plan.options(word)]
        parts.append("(" + " | ".join(options) + ")")
    for phrase in plan.parsed.phrases:
        parts.append("(" + " <-> ".join(_quote(w) for w in phrase) + ")")
    for phrase in plan.parsed.excluded if exclusions else ():
        parts.append("!(" + " <-> ".join(_quote(w) for w in phrase) + ")")
    return " & ".join(parts)


def visible_sql(visibility: Visibility, params: dict[str, Any]) -> str:
    """``visibility`` as a condition on ``search_document`` (its values into ``params``)."""
    if visibility.everything:
        return "true"
    allowed = ["patient_id IS NULL"]
    for i, (kinds, patients) in enumerate(visibility.groups()):
        params[f"vk{i}"] = list(kinds)
        if patients is None:
            allowed.append(f"kind = ANY(%(vk{i})s)")
        else:
            params[f"vp{i}"] = sorted(patients)
            allowed.append(f"(kind = ANY(%(vk{i})s) AND patient_id = ANY(%(vp{i})s))")
    return "(" + " OR ".join(allowed) + ")"


class PostgresText:
    """The PostgreSQL half of the embedded backend."""

    def write(self, conn: Connection, rows: Sequence[DocumentRow]) -> None:
        """Upsert ``rows`` (one generation) with one statement: arrays, one per column (one
        row: plain values)."""
        if len(rows) >= COPY_THRESHOLD:
            self._copy(conn, rows)
        elif len(rows) == 1:
            row = rows[0]
            one: dict[str, Any] = {c: getattr(row, c) for c in _COLUMNS}
            one.update(
                tsv=tsvector_literal(row), title_tsv=title_literal(row), generation=row.generation
            )
            conn.exec_driver_sql(_UPSERT_ONE, one, execution_options=_PREPARED)
        elif rows:
            params: dict[str, Any] = {c: [getattr(r, c) for r in rows] for c in _COLUMNS}
            params["tsv"] = [tsvector_literal(r) for r in rows]
            params["title_tsv"] = [title_literal(r) for r in rows]
            params["generation"] = rows[0].generation
            conn.exec_driver_sql(_UPSERT, params)

    @staticmethod
    def _copy(conn: Connection, rows: Sequence[DocumentRow]) -> None:
        """The bulk path: COPY into a session's temporary table, then one upsert from it."""
        conn.exec_driver_sql(_LOAD_TABLE)
        # Let the GIN indexes collect more new entries before merging them (fewer, bigger
        # merges); a rebuild flushes what is pending when it finishes.
        conn.exec_driver_sql("SET LOCAL gin_pending_list_limit = '32MB'")
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cur, cur.copy("COPY search_load FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    (*(getattr(r, c) for c in _COLUMNS), tsvector_literal(r), title_literal(r))
                )
        conn.exec_driver_sql(_UPSERT_LOADED, {"generation": rows[0].generation})

    def after_rebuild(self, engine: Engine) -> None:
        """Vacuum and analyze after a rebuild: it rewrote every row of the rebuilt kinds,
        and until the old versions are gone every search reads past them (measured at a
        million documents after rewriting 150,000 of them: about 210 searches/s before, 255 after).
        Vacuuming also merges the GIN indexes' pending entries."""
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) search_document, search_term, search_term_key")

    def remove(self, conn: Connection, where: Any) -> None:
        """Delete the documents matching ``where`` (a condition on ``search_document``)."""
        conn.execute(sa.delete(document).where(where))

    def clear(self, conn: Connection) -> None:
        conn.exec_driver_sql("TRUNCATE search_document, search_term, search_term_key")

    def search(self, conn: Connection, plan: MatchPlan, query: SearchQuery) -> Found:
        """One page of ranked matches, with the capped count and the kind facets. Ranks
        are computed while the matches are read, so only the page's rows are read again."""
        params: dict[str, Any] = {
            "q": tsquery_literal(plan),
            "title_q": tsquery_literal(plan, exclusions=False),
            "cap": max(COUNT_WINDOW, query.offset + query.size) + 1,
            "titled": TITLE_CANDIDATES,
            "depth": query.offset + query.size,
            "weights": RANK_WEIGHTS,
            "size": query.size,
            "offset": query.offset,
        }
        visible = visible_sql(query.visibility, params)
        parts = {
            "visible": visible,
            "rank": _RANK,
            "kinds": "",
            "matched_rank": f", {_RANK} AS score, {_IN_TITLE} AS in_title",
            "chosen": "SELECT id, score, in_title FROM matched",
            # A title holding every word is a match, unless an excluded word is elsewhere.
            "excluded": "AND tsv @@ CAST(%(q)s AS tsquery)" if plan.parsed.excluded else "",
        }
        if query.kinds is not None:
            params["kinds"] = sorted(query.kinds)
            parts["kinds"] = "AND kind = ANY(%(kinds)s)"
            parts["matched_rank"] = ""
            parts["chosen"] = (
                f"SELECT id, {_RANK} AS score, {_IN_TITLE} AS in_title FROM search_document "
                f"WHERE tsv @@ CAST(%(q)s AS tsquery) AND {visible} {parts['kinds']} "
                "LIMIT %(cap)s"
            )
        rows = conn.exec_driver_sql(_SEARCH.format(**parts), params).all()
        facets = {k: int(n) for k, n in rows[0].facets.items()}
        total, window = int(rows[0].total), params["cap"] - 1
        hits = [r for r in rows if r.doc_id is not None]
        return Found(hits, facets, min(total, window), total <= window)
