"""The embedded backend: global search in the app's own database.

Nothing to install: SQLite FTS5 or PostgreSQL full text (:mod:`.sqlite_text`,
:mod:`.postgres_text`) hold the words, :mod:`.vocabulary` corrects typos, and
:mod:`search.highlight` marks the hits. Writes can join the caller's transaction (an
indexing job's), so on SQLite, whose writers queue, indexing never waits on itself.

Each row carries a *generation* (the time it was written, in microseconds). A rebuild writes
every document afresh and then deletes the rows of the rebuilt kinds older than its start:
searches see the old or the new version of each document throughout, never a gap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from platform_core.db.engine import write_transaction
from platform_core.plugin_api import SearchDocument
from search.analysis import allowed_edits
from search.backend import SearchHit, SearchQuery, SearchResult
from search.embedded.postgres_text import PostgresText
from search.embedded.rows import DocumentRow, MatchPlan
from search.embedded.schema import document
from search.embedded.sqlite_text import SqliteText
from search.embedded.vocabulary import Vocabulary
from search.highlight import Matcher, highlight_whole, snippet

D = document.c
BATCH = 1_000


def generation_now() -> int:
    """A row's generation: the time, in microseconds."""
    return time.time_ns() // 1_000


class EmbeddedBackend:
    """:class:`search.backend.SearchBackend` on the app's database."""

    name = "embedded"
    shares_database = True

    def __init__(
        self,
        engine: Engine,
        read_engine: Engine | None = None,
        *,
        words_engine: Engine | None = None,
    ) -> None:
        """``words_engine``: an autocommit pool (PostgreSQL) for the vocabulary, or None
        to write it in the documents' transaction (see :meth:`_add_words`)."""
        self.engine = engine
        self.read_engine = read_engine or engine
        self.words_engine = words_engine
        self.text: PostgresText | SqliteText = (
            PostgresText() if engine.dialect.name == "postgresql" else SqliteText()
        )
        self.vocabulary = Vocabulary()

    @classmethod
    def from_core(cls, core: Any) -> EmbeddedBackend:
        read = core.repository.read_engine
        # On PostgreSQL the read pool is in autocommit mode (db.engine.create_read_engine).
        words = read if core.db.dialect.name == "postgresql" else None
        return cls(core.db, read, words_engine=words)

    # --- writes -----------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with write_transaction(self.engine) as own:
            yield own

    def _write(self, conn: Connection, docs: Sequence[SearchDocument]) -> None:
        generation = generation_now()
        latest: dict[tuple[str, str], SearchDocument] = {(d.kind, d.id): d for d in docs}
        rows = [DocumentRow.of(d, generation) for d in latest.values()]
        self.text.write(conn, rows)
        found: set[str] = set()
        for row in rows:
            found |= row.all_words()
        self._add_words(conn, found)

    def _add_words(self, conn: Connection, words: set[str]) -> None:
        """Store the words the vocabulary lacks. With a ``words_engine``, in one statement
        committed on its own: documents are written inside FHIR writes (the
        ``search.index_resource`` job runs in the write), and two transaction Bundles adding
        the same new words in different orders would otherwise wait on, or deadlock with,
        each other. A word whose document then rolls back stays in the vocabulary, which
        costs a correction or a prefix expansion that finds nothing. SQLite has one writer
        at a time: there the words join the documents' transaction."""
        fresh = self.vocabulary.unknown(words)
        if not fresh:
            return  # no connection to check out: most documents bring no new word
        if self.words_engine is None:
            self.vocabulary.store(conn, fresh)
            return
        with self.words_engine.connect() as own:
            self.vocabulary.store(own, fresh)

    def index(self, docs: Sequence[SearchDocument], *, conn: Connection | None = None) -> None:
        if not docs:
            return
        with self._transaction(conn) as c:
            self._write(c, docs)

    def delete(self, kind: str, ids: Sequence[str], *, conn: Connection | None = None) -> None:
        if not ids:
            return
        with self._transaction(conn) as c:
            self.text.remove(c, sa.and_(D.kind == kind, D.doc_id.in_(list(ids))))

    def bulk_index(self, docs: Sequence[SearchDocument]) -> None:
        for i in range(0, len(docs), BATCH):
            with write_transaction(self.engine) as conn:
                self._write(conn, docs[i : i + BATCH])

    def start_rebuild(self, kinds: Collection[str] | None) -> EmbeddedRebuild:
        return EmbeddedRebuild(self, None if kinds is None else frozenset(kinds))

    def purge(self, kinds: frozenset[str] | None, before: int) -> None:
        """Delete rows of ``kinds`` (None: all) written before generation ``before``."""
        where = D.generation < before
        if kinds is not None:
            where = sa.and_(where, D.kind.in_(sorted(kinds)))
        with write_transaction(self.engine) as conn:
            self.text.remove(conn, where)

    def clear(self) -> None:
        with write_transaction(self.engine) as conn:
            self.text.clear(conn)
        self.vocabulary.forget()

    def refresh(self) -> None:
        """Nothing to do: a committed write is searchable at once."""

    def health(self) -> str | None:
        try:
            with self.read_engine.connect() as conn:
                conn.execute(sa.select(D.id).limit(1)).first()
        except sa.exc.SQLAlchemyError as exc:
            return f"search tables unavailable: {type(exc).__name__}"
        return None

    # --- search -----------------------------------------------------------------------------
    def _plan(self, conn: Connection, query: SearchQuery) -> MatchPlan:
        """The query's words checked against the vocabulary: the prefix's expansions, and
        corrections for the words the index has never seen."""
        parsed = query.parsed
        prefix = parsed.prefix_word(query.prefix)
        fallible = [w for w in parsed.words if query.typos and allowed_edits(w)]
        known, expansions = self.vocabulary.look_up(
            conn, [w for w in fallible if w != prefix], prefix
        )
        spellings = {
            word: self.vocabulary.corrections(conn, word)
            for word in fallible
            if (not expansions if word == prefix else word not in known)
        }
        return MatchPlan(parsed, prefix, spellings, tuple(expansions))

    def search(self, query: SearchQuery) -> SearchResult:
        if query.parsed.empty:
            return SearchResult.empty()
        with self.read_engine.connect() as conn:
            plan = self._plan(conn, query)
            found = self.text.search(conn, plan, query)
        match = Matcher(frozenset(plan.highlight_terms()), plan.prefix)
        hits = [self._hit(row, match if query.highlight else None) for row in found.rows]
        return SearchResult(
            hits, found.total, found.total_exact, found.facets if query.facets else {}
        )

    @staticmethod
    def _hit(row: Any, match: Matcher | None) -> SearchHit:
        highlights: dict[str, list[str]] = {}
        if match is not None:
            title = highlight_whole(row.title, match)
            body = snippet(row.body, match)
            if title:
                highlights["title"] = [title]
            if body:
                highlights["body"] = [body]
        return SearchHit(
            kind=row.kind,
            id=row.doc_id,
            title=row.title,
            url=row.url,
            score=float(row.score),
            highlights=highlights,
            fields=json.loads(row.fields),
        )


class EmbeddedRebuild:
    """A rebuild on the embedded backend (see the module docstring)."""

    def __init__(self, backend: EmbeddedBackend, kinds: frozenset[str] | None) -> None:
        self.backend = backend
        self.kinds = kinds
        self.started = generation_now()

    def bulk_index(self, docs: Sequence[SearchDocument]) -> None:
        self.backend.bulk_index(docs)

    def finish(self) -> None:
        self.backend.purge(self.kinds, self.started)
        self.backend.text.after_rebuild(self.backend.engine)

    def abort(self) -> None:
        """Nothing to undo: the documents written so far are current ones."""
