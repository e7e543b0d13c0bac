"""The ``phonetic`` search parameter (Patient, Practitioner, Person, RelatedPerson): names that
sound alike, by American Soundex.

R4 leaves the algorithm to the server ("using some kind of phonetic matching algorithm").
Soundex is the one FHIR servers commonly offer, fully specified and dependency-free: a name's
key is its first letter and three digits for the consonant sounds that follow (``Smith`` and
``Smyth`` are both ``S530``). Each word of a HumanName's ``family`` and ``given`` is indexed
by its key (accents folded first, so ``Núñez`` is ``Nunez``); a search matches a resource
that has, for every word searched, a name word with the same key. Its limits are Soundex's:
the first letter must agree (``Kofi`` and ``Coffee`` differ), and names written in other
scripts have no key and are not indexed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from platform_core.db.aliases import alias
from platform_core.db.schema import INDEX_TABLES
from platform_core.fhir.search.model import Criterion
from platform_core.fhir.search.values import Row, normalize

_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}
_SEPARATORS = frozenset("hw")
"""Letters that do not separate two consonants with the same code (vowels do)."""
_WORD = re.compile(r"[^\W\d_]+")


def soundex(word: str) -> str | None:
    """The American Soundex key of ``word`` (``Robert`` -> ``R163``); None without a letter
    a-z once accents are folded."""
    letters = [ch for ch in normalize(word) if "a" <= ch <= "z"]
    if not letters:
        return None
    key = [letters[0].upper()]
    previous = _CODES.get(letters[0], "")
    for ch in letters[1:]:
        code = _CODES.get(ch, "")
        if code and code != previous:
            key.append(code)
            if len(key) == 4:
                break
        if ch not in _SEPARATORS:
            previous = code
    return "".join(key).ljust(4, "0")


def words(text: str) -> list[str]:
    """The words of a name part (``van der Berg`` -> three, ``Ana-María`` -> two)."""
    return _WORD.findall(text)


def phonetic_rows(value: Any, base_url: str) -> Iterator[Row]:
    """Index rows of a HumanName: the Soundex key of each word of its family and given names
    (``value_norm``), with the word (``value_exact``)."""
    if not isinstance(value, dict):
        return
    parts: list[str] = []
    for part in (value.get("family"), *(value.get("given") or ())):
        if isinstance(part, str):
            parts.append(part)
    seen: set[str] = set()
    for part in parts:
        for word in words(part):
            key = soundex(word)
            if key is not None and key not in seen:
                seen.add(key)
                yield {"value_norm": key, "value_exact": word[:512]}


def search_keys(value: str) -> list[str]:
    """The distinct keys of the words of a searched value (empty: nothing to match on)."""
    keys = [k for w in words(value) if (k := soundex(w)) is not None]
    return sorted(set(keys))


def phonetic_rids(criterion: Criterion, resource_type: str, keys_per_value: list[list[str]]) -> Any:
    """``SELECT rid`` of the resources that match one of the OR-ed values: each value matches
    when every one of its keys is among the resource's name keys."""
    table = INDEX_TABLES["string"]
    selects = []
    for keys in keys_per_value:
        x = alias(table)
        selects.append(
            sa.select(x.c.rid)
            .where(
                x.c.resource_type == resource_type,
                x.c.param == criterion.param.code,
                x.c.value_norm.in_(keys),
            )
            .group_by(x.c.rid)
            .having(sa.func.count(sa.distinct(x.c.value_norm)) == len(keys))
        )
    # Always a compound (one select renders without UNION): callers that page or count a
    # plain lookup in place must not do so with a grouped one.
    return sa.union(*selects)
