"""Search statements built once per shape, then executed with each search's own values.

Building a search's SQLAlchemy statement costs more Python than anything else a search does:
a birth-year search spent about 1.2 ms of a 3.8 ms request building its date conditions.
Two searches of the same shape (``Patient?name=ada`` and ``Patient?name=bob``; the same
parameters, modifiers, prefixes and kinds of value, page size and paging direction) differ
only in the values their SQL binds. So the first search of a shape builds a template, its
values as named bind parameters (:mod:`.slots`), and later ones execute that template with
their values, which :func:`criterion_parts` computes without building anything.

A template is kept only after two checks on the search that built it: the builders slotted
exactly the values :func:`criterion_parts` computed, in the same order, and every other value
bound in it is a constant of the shape (a type, a parameter code, the page size). A shape
that fails either check is remembered and built afresh each time, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

from platform_core.fhir.search import date_span, slots
from platform_core.fhir.search.clauses import (
    Parts,
    date_parts,
    id_values,
    is_plain,
    merged_span,
    reference_parts,
    string_parts,
    token_parts,
)
from platform_core.fhir.search.model import Criterion

log = logging.getLogger(__name__)

CAPACITY = 1024
"""Templates kept per process; when full, the cache starts over (shapes are few: a deployment
sees dozens, not thousands)."""

TOKEN_MODIFIERS = frozenset({None, "not", "text"})
STRING_MODIFIERS = frozenset({None, "exact", "contains"})


def criterion_parts(criterion: Criterion, base_url: str) -> Parts | None:
    """The shape and slotted values of one criterion as a lookup of its own (plain or
    chained); None for the kinds that are always built afresh."""
    if criterion.has is not None or criterion.modifier == "missing":
        return None
    param = criterion.param
    head = (param.code, param.type, criterion.modifier)
    if criterion.chain:
        shapes = []
        values: list[Any] = []
        for target_type, inner in criterion.chain:
            parts = criterion_parts(inner, base_url)
            if parts is None:
                return None
            shapes.append((target_type, parts[0]))
            values.extend(parts[1])
        return ("chain", head, tuple(shapes)), values
    if param.code == "_id":
        return ("_id", head), [id_values(criterion)]
    if param.encoding is not None or not (is_plain(criterion) or criterion.modifier == "not"):
        return None
    parts: Parts | None = None
    if param.type == "token" and criterion.modifier in TOKEN_MODIFIERS:
        parts = token_parts(criterion)
    elif param.type == "string" and criterion.modifier in STRING_MODIFIERS:
        parts = string_parts(criterion)
    elif param.type == "date" and criterion.modifier is None:
        parts = date_parts(criterion)
    elif param.type == "reference" and criterion.modifier not in {"identifier", "not"}:
        parts = reference_parts(criterion, base_url)
    if parts is None:
        return None
    return (head, parts[0]), parts[1]


def group_parts(criteria: list[Criterion]) -> Parts | None:
    """The shape and slotted values of AND-ed date criteria on one single-valued parameter,
    looked up together (``clauses.matching_rids_all``); None for other types."""
    if criteria[0].param.type != "date":
        return None
    span = merged_span(criteria)
    shapes = []
    values: list[Any] = []
    for criterion in criteria:
        kinds, found = date_parts(criterion, narrow=span is None)
        shapes.append(kinds)
        values.extend(found)
    if span is not None:
        values.extend(end for end in span if end is not None)
    form = None if span is None else (span[0] is None, span[1] is None, date_span.splits(span))
    return ("group", criteria[0].param.code, tuple(shapes), form), values


@dataclass(frozen=True)
class Template:
    """A statement whose slotted values are the bind parameters ``names``."""

    statement: Any
    names: tuple[str, ...]

    def params(self, values: list[Any]) -> dict[str, Any]:
        """The bind values for a search of this shape with slotted ``values``."""
        return dict(zip(self.names, values, strict=True))


class TemplateCache:
    """Templates by shape key, shared by every thread of the process."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._templates: dict[Any, Template | None] = {}
        self._lock = threading.Lock()

    def kept(self) -> int:
        """How many shapes have a template."""
        return sum(1 for template in self._templates.values() if template is not None)

    def clear(self) -> None:
        with self._lock:
            self._templates.clear()

    def get(self, key: Any, values: list[Any], build: Callable[[], Any]) -> Template | None:
        """The template of shape ``key``, built with ``build`` on first use; None when the
        shape cannot be templated (then build the statement as usual)."""
        if key in self._templates:
            return self._templates[key]
        template = _record(key, values, build)
        with self._lock:
            if len(self._templates) >= self.capacity:
                self._templates.clear()
            self._templates[key] = template
        return template


def _record(key: Any, values: list[Any], build: Callable[[], Any]) -> Template | None:
    with slots.recording() as recorder:
        statement = build()
    if recorder.values != values:
        log.warning(
            "search shape %r slotted %d values where %d were expected; not templated",
            key,
            len(recorder.values),
            len(values),
        )
        return None
    names = set(slots.names(len(values)))
    constants = set(_atoms(key))
    for element in visitors.iterate(statement):
        if not isinstance(element, BindParameter) or element.key in names:
            continue
        value = element.value
        if not (value is None or isinstance(value, bool) or _hashable(value) in constants):
            log.warning("search shape %r binds %r outside its slots; not templated", key, value)
            return None
    return Template(statement, tuple(slots.names(len(values))))


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return None
    return value


def _atoms(key: Any) -> Iterator[Any]:
    if isinstance(key, tuple):
        for part in key:
            yield from _atoms(part)
    else:
        yield key


TEMPLATES = TemplateCache()
"""The process's templates (statements hold no connection or dialect: any engine runs them)."""
