"""Highlighting for the embedded backend: matched words in ``<mark>``, the rest escaped.

Done here rather than with SQLite's ``highlight()`` or PostgreSQL's ``ts_headline`` so that
both databases mark the same words (accent-folded, typo corrections and prefixes included)
and the output is safe HTML either way. It runs on the page's hits only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property, lru_cache

from search.analysis import fold

SNIPPET_CHARS = 160
"""About how long a body snippet is."""
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Matcher:
    """Which folded words count as matches."""

    exact: Collection[str]
    prefix: str | None = None

    def __call__(self, word: str) -> bool:
        folded = fold(word)
        return folded in self.exact or (self.prefix is not None and folded.startswith(self.prefix))

    @cached_property
    def ascii_pattern(self) -> re.Pattern[str] | None:
        """One regular expression for the matches in ASCII text (most text): the words
        whole, the prefix followed by any letters; None when nothing can match there."""
        exact = tuple(sorted(w for w in self.exact if w.isascii()))
        prefix = self.prefix if self.prefix is not None and self.prefix.isascii() else None
        return _ascii_pattern(exact, prefix) if exact or prefix else None


@lru_cache(maxsize=1024)
def _ascii_pattern(exact: tuple[str, ...], prefix: str | None) -> re.Pattern[str]:
    """Compiled once per set of words (compiling cost more than matching twenty hits)."""
    options = sorted((re.escape(w) for w in exact), key=len, reverse=True)
    if prefix is not None:
        options.append(re.escape(prefix) + "[A-Za-z0-9]*")
    body = "|".join(options)
    return re.compile(f"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", re.IGNORECASE)


def _spans(text: str, match: Matcher) -> list[tuple[int, int]]:
    if text.isascii():
        pattern = match.ascii_pattern
        return [] if pattern is None else [(m.start(), m.end()) for m in pattern.finditer(text)]
    return [(m.start(), m.end()) for m in _WORD.finditer(text) if match(m.group())]


def _mark(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    out, pos = [], start
    for s, e in spans:
        if s < start or e > end:
            continue
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:end]))
    return "".join(out)


def highlight_whole(text: str, match: Matcher) -> str | None:
    """``text`` with its matches marked, or None when nothing in it matches."""
    spans = _spans(text, match)
    return _mark(text, spans, 0, len(text)) if spans else None


def snippet(text: str, match: Matcher, size: int = SNIPPET_CHARS) -> str | None:
    """A window of about ``size`` characters around the densest run of matches, marked,
    with ``…`` where it was cut; None when nothing matches."""
    spans = _spans(text, match)
    if not spans:
        return None
    best, best_count = 0, 0
    for i, (s, _) in enumerate(spans):
        count = sum(1 for s2, _ in spans[i:] if s2 < s + size)
        if count > best_count:
            best, best_count = i, count
    start = max(0, spans[best][0] - size // 5)
    if start > 0:
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space >= 0 and start - space < 20 else start
    end = min(len(text), start + size)
    if end < len(text):
        space = text.find(" ", end)
        end = space if 0 <= space - end < 20 else end
    marked = _mark(text, spans, start, end).strip()
    return ("…" if start > 0 else "") + marked + ("…" if end < len(text) else "")
