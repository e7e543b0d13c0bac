"""Text analysis shared by every backend: folding, words, the query syntax, typo distance.

Folding is the core's (:func:`platform_core.fhir.search.values.normalize`: case and accents
folded, ``Zoë`` -> ``zoe``), and a word is a run of letters and digits. The embedded backend
indexes exactly these words, so what a query means does not depend on a database's text
parser or locale.

The query syntax is the one of common web search boxes and nothing more: words (all must
match; the last one also as a prefix), ``"quoted phrases"`` (exact, in order) and a leading
``-`` to exclude a word or phrase. Every other character separates words, so operators of
the underlying engines (``AND``, ``*``, ``:``, ``(``, ``NEAR``) are plain text and can never
make a query fail. Long input is cut to :data:`MAX_TERMS` words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from platform_core.fhir.search.values import normalize

MAX_TERMS = 16
"""Words (phrase words and exclusions included) a query keeps; the rest is ignored."""
MAX_WORD_LENGTH = 64
"""Longer words are cut to this."""
MIN_PREFIX = 2
"""A last word shorter than this is matched whole, not as a prefix of every word."""

_WORD = re.compile(r"[^\W_]+")
_PART = re.compile(r'(?P<neg>-?)"(?P<phrase>[^"]*)"?|(?P<neg2>-?)(?P<word>[^\s"]+)')


def fold(text: str) -> str:
    """Case- and accent-folded text (the core's ``normalize``; plain ASCII the quick way)."""
    return text.lower() if text.isascii() else normalize(text)


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order."""
    return [
        w if len(w) <= MAX_WORD_LENGTH else w[:MAX_WORD_LENGTH] for w in _WORD.findall(fold(text))
    ]


@dataclass(frozen=True)
class ParsedQuery:
    """A search box's text, understood."""

    words: tuple[str, ...] = ()
    """Bare words, folded, in order: each must match (exactly, with a typo, or for the
    last one as a prefix)."""
    phrases: tuple[tuple[str, ...], ...] = ()
    """Quoted phrases: their words must appear exactly and in this order."""
    excluded: tuple[tuple[str, ...], ...] = ()
    """Words and phrases after a ``-``: documents containing them are left out."""
    truncated: bool = False
    """Some of the text was ignored (more than :data:`MAX_TERMS` words)."""

    @property
    def empty(self) -> bool:
        """Nothing to look for (exclusions alone find nothing)."""
        return not self.words and not self.phrases

    def prefix_word(self, enabled: bool = True) -> str | None:
        """The word matched as a prefix: the last bare word, if long enough."""
        if enabled and self.words and len(self.words[-1]) >= MIN_PREFIX:
            return self.words[-1]
        return None

    def all_terms(self) -> set[str]:
        """Every positive word, for highlighting."""
        return set(self.words) | {w for p in self.phrases for w in p}


def parse_query(text: str) -> ParsedQuery:
    """Parse search-box text (see the module docstring). Never raises."""
    found: list[str] = []
    phrases: list[tuple[str, ...]] = []
    excluded: list[tuple[str, ...]] = []
    budget = MAX_TERMS
    truncated = False
    for match in _PART.finditer(text):
        negative = bool(match["neg"] or match["neg2"])
        chunk = match["phrase"] if match["phrase"] is not None else match["word"]
        parts = words(chunk or "")
        if not parts:
            continue
        if len(parts) > budget:
            parts, truncated = parts[:budget], True
        budget -= len(parts)
        quoted = match["phrase"] is not None
        if negative:
            excluded.append(tuple(parts))
        elif quoted:
            phrases.append(tuple(parts))
        else:
            found.extend(parts)
        if budget <= 0:
            truncated = truncated or match.end() < len(text.rstrip())
            break
    return ParsedQuery(tuple(found), tuple(phrases), tuple(excluded), truncated)


# --- typos ---------------------------------------------------------------------------------


def allowed_edits(word: str) -> int:
    """Typos tolerated in a word: none under 4 letters, one up to 7, two from 8 (what
    Elasticsearch calls ``fuzziness: AUTO:4,8``)."""
    if len(word) < 4 or word.isdigit():
        return 0
    return 1 if len(word) < 8 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (insert, delete, substitute, swap two neighbours:
    one edit each), or ``limit + 1`` once it is certainly above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1] if prev[-1] <= limit else limit + 1


def deletion_keys(word: str) -> set[str]:
    """The word and each form of it with one letter removed. Two words within one edit of
    each other share at least one key (the symmetric-deletion idea behind SymSpell), so
    candidates are found by equality lookups instead of scanning the vocabulary."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def vocabulary_word(word: str) -> bool:
    """Whether a word goes into the typo vocabulary (3 to 40 characters, with a letter)."""
    return 3 <= len(word) <= 40 and not word.isdigit()
