"""The search backend interface and the values that cross it.

A backend stores :class:`~platform_core.plugin_api.SearchDocument` values and answers a
:class:`SearchQuery` with a :class:`SearchResult`. The query arrives already parsed
(:mod:`search.analysis`) and already narrowed: :class:`Visibility` says which private
documents the caller may see, and the backend must apply it inside the search itself, so
hits, totals and facets never count what the caller may not see.

Backends are built by factories that take the core (``register_search_backends``) and must
not touch the network or the database while being built: a search cluster that is down
makes ``/readyz`` fail (``health``), it does not stop the app from starting.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from sqlalchemy import Connection

from platform_core.plugin_api import SearchDocument
from search.analysis import ParsedQuery, parse_query

MAX_PAGE_SIZE = 100
"""Most hits one page may ask for."""
MAX_WINDOW = 1_000
"""Deepest hit a search may page to (``page * size``); deeper paging is refused."""
TOTAL_CAP = 1_000
"""Totals and facets are exact up to this many matches; beyond it the total reads "at least
this many" (as deep as paging goes: :data:`MAX_WINDOW`)."""


@dataclass(frozen=True)
class Visibility:
    """Which documents a caller may find.

    Public documents (no ``patient_id``) are always visible. ``everything`` opens every
    private document too (internal callers). Otherwise ``private`` maps a document kind to
    the patients whose private documents of that kind the caller may see (None: every
    patient); kinds missing from it show public documents only."""

    everything: bool = False
    private: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    @classmethod
    def public_only(cls) -> Visibility:
        return cls()

    @classmethod
    def all(cls) -> Visibility:
        return cls(everything=True)

    def groups(self) -> list[tuple[tuple[str, ...], frozenset[str] | None]]:
        """``private`` grouped by patient set: ``[(kinds, patients)]``, empty sets left out,
        so a backend writes one condition per distinct set."""
        by_set: dict[frozenset[str] | None, list[str]] = {}
        for kind, patients in sorted(self.private.items()):
            if patients is not None and not patients:
                continue
            by_set.setdefault(patients, []).append(kind)
        return [(tuple(kinds), patients) for patients, kinds in by_set.items()]


@dataclass(frozen=True)
class SearchQuery:
    """One search, as a backend receives it."""

    text: str
    visibility: Visibility
    kinds: frozenset[str] | None = None
    """Only these kinds (None: every kind)."""
    page: int = 1
    size: int = 20
    prefix: bool = True
    """The last word also matches as a prefix (autocomplete)."""
    typos: bool = True
    """Words may match with a typo (one edit, two for long words)."""
    highlight: bool = True
    facets: bool = True

    @cached_property
    def parsed(self) -> ParsedQuery:
        """The text parsed once (words, phrases, exclusions)."""
        return parse_query(self.text)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True)
class SearchHit:
    """One document found."""

    kind: str
    id: str
    title: str
    url: str | None
    score: float
    highlights: dict[str, list[str]] = field(default_factory=dict)
    """Field name (``title``, ``body``) to HTML fragments: the text escaped, matches in
    ``<mark>``."""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """One page of hits, with the total and the facets of the whole search."""

    hits: list[SearchHit]
    total: int
    total_exact: bool = True
    """False when ``total`` is a lower bound (more than :data:`TOTAL_CAP` matches)."""
    facets: dict[str, int] = field(default_factory=dict)
    """Matches per kind, before the ``kinds`` filter (so a client can offer the others)."""

    @classmethod
    def empty(cls) -> SearchResult:
        return cls([], 0)


class Rebuild(Protocol):
    """A rebuild of some kinds in progress: documents go in with :meth:`bulk_index`, and
    searches keep seeing the old state until :meth:`finish` publishes the new one."""

    def bulk_index(self, docs: Sequence[SearchDocument]) -> None:
        """Add a batch of documents to the rebuild (the fast path: no per-document work
        beyond what indexing needs)."""
        ...

    def finish(self) -> None:
        """Publish: documents of the rebuilt kinds not added since the start disappear."""
        ...

    def abort(self) -> None:
        """Give up; the index stays as it was before."""
        ...


class SearchBackend(Protocol):
    """Where documents are stored and searched."""

    name: str
    shares_database: bool
    """True when the documents live in the app's own database and :meth:`index` and
    :meth:`delete` join the transaction they are handed: FHIR resources are then indexed
    inside their writes (``search.index_resource`` runs ``in_write``). False: through the
    outbox, after the commit, with retries while the backend is away."""

    def index(self, docs: Sequence[SearchDocument], *, conn: Connection | None = None) -> None:
        """Add or replace documents (by kind and id). Idempotent.

        :param conn: an open transaction on the app's database, for backends that store
            there (the embedded one): the write then commits or rolls back with it. Other
            backends ignore it."""
        ...

    def delete(self, kind: str, ids: Sequence[str], *, conn: Connection | None = None) -> None:
        """Remove documents; unknown ids are ignored. Idempotent."""
        ...

    def bulk_index(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace many documents at once, outside any rebuild."""
        ...

    def start_rebuild(self, kinds: Collection[str] | None) -> Rebuild:
        """Begin rebuilding ``kinds`` (None: the whole index) without interrupting
        searches."""
        ...

    def search(self, query: SearchQuery) -> SearchResult:
        """Ranked hits for ``query``, narrowed to ``query.visibility``.

        Never raises for odd text (quotes, operators, unicode, very long input): such text
        is searched as words. Raises :class:`SearchUnavailable` when the store cannot be
        reached."""
        ...

    def health(self) -> str | None:
        """None when the backend answers, else a short reason."""
        ...

    def refresh(self) -> None:
        """Make everything indexed so far visible to searches (tests, reindex)."""
        ...

    def clear(self) -> None:
        """Remove every document (tests)."""
        ...


class SearchUnavailable(Exception):
    """The backend's store cannot be reached right now."""
