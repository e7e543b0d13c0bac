"""A document as the embedded backend stores it, and the search plan both databases run.

Both are plain values so that the SQLite and PostgreSQL modules differ only in SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from platform_core.plugin_api import SearchDocument
from search.analysis import ParsedQuery, words

MAX_EXPANSIONS = 50


@dataclass(frozen=True)
class DocumentRow:
    """One document ready to write: its columns, and its words per weighted field."""

    kind: str
    doc_id: str
    title: str
    body: str
    keywords: str
    url: str | None
    patient_id: str | None
    fields: str
    generation: int
    title_words: list[str]
    keyword_words: list[str]
    body_words: list[str]

    @classmethod
    def of(cls, doc: SearchDocument, generation: int) -> DocumentRow:
        keywords = "\n".join(doc.keywords)
        return cls(
            kind=doc.kind,
            doc_id=doc.id,
            title=doc.title,
            body=doc.body,
            keywords=keywords,
            url=doc.url,
            patient_id=doc.patient_id,
            fields=json.dumps(doc.fields, default=str, ensure_ascii=False),
            generation=generation,
            title_words=words(doc.title),
            keyword_words=words(keywords),
            body_words=words(doc.body),
        )

    def all_words(self) -> set[str]:
        return set(self.title_words) | set(self.keyword_words) | set(self.body_words)


@dataclass(frozen=True)
class MatchPlan:
    """What to match: the parsed query with each word's accepted spellings."""

    parsed: ParsedQuery
    prefix: str | None
    """The word matched as a prefix, if any."""
    spellings: dict[str, list[str]] = field(default_factory=dict)
    """Each bare word to its corrections (empty: the word only)."""
    expansions: tuple[str, ...] = ()
    """The indexed words the prefix stands for (at most :data:`MAX_EXPANSIONS`, in word
    order, as Elasticsearch's ``max_expansions``); empty: match the prefix itself."""

    def options(self, word: str) -> list[tuple[str, bool]]:
        """What may stand for a bare word: ``(term, as_prefix)`` pairs."""
        if word == self.prefix:
            first = [(w, False) for w in self.expansions] or [(word, True)]
        else:
            first = [(word, False)]
        return first + [(w, False) for w in self.spellings.get(word, [])]

    def highlight_terms(self) -> set[str]:
        terms = self.parsed.all_terms()
        for corrections in self.spellings.values():
            terms.update(corrections)
        return terms


@dataclass(frozen=True)
class Found:
    """What a database answered: the page's rows (``kind``, ``doc_id``, ``title``, ``body``,
    ``url``, ``fields``, ``score``: higher is better), the matches per kind, and the matches
    of the chosen kinds with whether that count is exact or a lower bound."""

    rows: list[Any]
    facets: dict[str, int]
    total: int
    total_exact: bool
