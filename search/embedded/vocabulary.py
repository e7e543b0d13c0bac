"""Typo tolerance for the embedded backend: the vocabulary of indexed words, and the
corrections of a word that is not in it.

Only a word the index has never seen is corrected (a known word is taken as meant), so the
cost is paid by misspelt queries alone. Candidates come from two indexes, then the true
edit distance decides (:func:`search.analysis.edit_distance`, transpositions count one):

* one edit, any word of 4+ letters: the symmetric-deletion keys in ``search_term_key``. Two
  words one edit apart share a key, so this finds every such word with equality lookups,
  short words included (trigrams miss ``jhon`` -> ``john``: they share no trigram).
* two edits, words of 8+ letters: trigram similarity, which long words keep after two edits
  (PostgreSQL: pg_trgm's GIN index; SQLite: an FTS5 ``trigram`` table).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite

from search.analysis import allowed_edits, deletion_keys, edit_distance, vocabulary_word
from search.embedded.rows import MAX_EXPANSIONS
from search.embedded.schema import term, term_key

MAX_CORRECTIONS = 5
"""Most corrections one word expands to."""
_CACHE_LIMIT = 200_000
_PG_ADD = (
    "WITH new AS (INSERT INTO search_term (term) SELECT unnest(CAST(%(words)s AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING term) "
    "INSERT INTO search_term_key (key, term) SELECT k.key, k.term "
    "FROM unnest(CAST(%(keys)s AS text[]), CAST(%(terms)s AS text[])) AS k (key, term) "
    "JOIN new ON new.term = k.term ON CONFLICT DO NOTHING"
)
"""The words, and the deletion keys of those that were new: one statement, so that in
autocommit mode a word is never stored without its keys."""
_CHUNK = 500


def _insert(table: sa.Table) -> sa.Insert:
    return sqlite.insert(table).on_conflict_do_nothing()


_BY_KEYS = sa.text("SELECT DISTINCT term FROM search_term_key WHERE key IN :keys").bindparams(
    sa.bindparam("keys", expanding=True)
)
"""Plain SQL text: the same look-up built with SQLAlchemy Core (typed ``VARCHAR`` binds
against the ``C``-collated column) measured about ten times slower on PostgreSQL."""


def _after(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix``."""
    last = ord(prefix[-1])
    return prefix[:-1] + chr(last + 1) if last < 0x10FFFF else prefix + "\U0010ffff"


def _chunks(items: list[str], size: int = _CHUNK) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Vocabulary:
    """The indexed words. The in-process set only saves lookups of words this process has
    already stored; the tables are the truth, so several processes agree."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop the in-process memory (after the tables were emptied)."""
        with self._lock:
            self._known.clear()

    def unknown(self, found: Iterable[str]) -> list[str]:
        """The vocabulary words of ``found`` this process has not stored, sorted: nothing
        to store when empty, which is most writes (names and codes repeat)."""
        return sorted({w for w in found if vocabulary_word(w)} - self._known)

    def add(self, conn: Connection, found: Iterable[str]) -> None:
        """Store the words not stored yet, with their deletion keys (and trigrams)."""
        self.store(conn, self.unknown(found))

    def store(self, conn: Connection, fresh: list[str]) -> None:
        """Store ``fresh`` (from :meth:`unknown`): the words the tables lack, and their
        keys."""
        if not fresh:
            return
        if conn.dialect.name == "postgresql":
            # Set-based, in sorted order (two such statements never wait on each other in
            # a cycle): row-by-row inserts and look-ups made a first load crawl. Keys go
            # for every fresh word; only the new words' are stored.
            keys = [(k, w) for w in fresh for k in deletion_keys(w)]
            conn.exec_driver_sql(
                _PG_ADD,
                {"words": fresh, "keys": [k for k, _ in keys], "terms": [w for _, w in keys]},
            )
        else:
            new = []
            for chunk in _chunks(fresh):
                present = set(
                    conn.execute(sa.select(term.c.term).where(term.c.term.in_(chunk))).scalars()
                )
                new.extend(w for w in chunk if w not in present)
            if new:
                keys = [{"key": k, "term": w} for w in new for k in deletion_keys(w)]
                conn.execute(_insert(term), [{"term": w} for w in new])
                conn.execute(_insert(term_key), keys)
                conn.exec_driver_sql(
                    "INSERT INTO search_term_trigram(term) VALUES (?)", [(w,) for w in new]
                )
        with self._lock:
            if len(self._known) > _CACHE_LIMIT:
                self._known.clear()
            self._known.update(fresh)

    def look_up(
        self, conn: Connection, words: Sequence[str], prefix: str | None
    ) -> tuple[set[str], list[str]]:
        """Which of ``words`` were indexed, and the first indexed words that begin with
        ``prefix`` (in word order): one statement."""
        parts, params = [], {}
        if words:
            parts.append("SELECT term, 0 AS part FROM search_term WHERE term IN :words")
            params["words"] = list(words)
        if prefix:
            parts.append(
                "SELECT term, 1 AS part FROM (SELECT term FROM search_term "
                "WHERE term >= :prefix AND term < :upper ORDER BY term LIMIT :most) AS first"
            )
            params.update(prefix=prefix, upper=_after(prefix), most=MAX_EXPANSIONS)
        if not parts:
            return set(), []
        statement = sa.text(" UNION ALL ".join(parts))
        if words:
            statement = statement.bindparams(sa.bindparam("words", expanding=True))
        rows = conn.execute(statement, params).all()
        return {t for t, part in rows if part == 0}, sorted(t for t, part in rows if part == 1)

    def corrections(self, conn: Connection, word: str) -> list[str]:
        """Indexed words within the typos ``word`` may have, closest first."""
        limit = allowed_edits(word)
        if limit == 0:
            return []
        candidates = set(conn.execute(_BY_KEYS, {"keys": sorted(deletion_keys(word))}).scalars())
        if limit >= 2:
            candidates |= self._similar(conn, word)
        scored = sorted(
            (d, w)
            for w in candidates
            if (d := edit_distance(word, w, limit)) <= limit and w != word
        )
        return [w for _, w in scored[:MAX_CORRECTIONS]]

    def _similar(self, conn: Connection, word: str) -> set[str]:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT term FROM search_term WHERE term %% %(w)s "
                "ORDER BY similarity(term, %(w)s) DESC LIMIT 40",
                {"w": word},
            )
            return set(rows.scalars())
        trigrams = sorted({word[i : i + 3] for i in range(len(word) - 2)})
        match = " OR ".join(f'"{t}"' for t in trigrams)
        rows = conn.exec_driver_sql(
            "SELECT term FROM search_term_trigram WHERE search_term_trigram MATCH ? "
            "ORDER BY rank LIMIT 40",
            (match,),
        )
        return set(rows.scalars())
