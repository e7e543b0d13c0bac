"""The typed form of a search, parsed once and passed around."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SearchParameterDef:
    """A search parameter as the server uses it."""

    code: str
    type: str
    """token, string, date, number, quantity, reference, uri, composite or special."""
    expression: str | None
    targets: tuple[str, ...] = ()
    """Target resource types of a reference parameter."""
    components: tuple[tuple[str, str], ...] = ()
    """For a composite: (component type, expression relative to the composite's node)."""
    encoding: str | None = None
    """How values are indexed when not by their type's rule: ``phonetic`` (names as
    phonetic keys in the string index, see :mod:`.phonetic`)."""


@dataclass(frozen=True, slots=True)
class Criterion:
    """One search parameter occurrence: the values are ORed, occurrences are ANDed."""

    param: SearchParameterDef
    modifier: str | None
    values: tuple[str, ...]
    raw_name: str
    chain: tuple[tuple[str, Criterion], ...] = ()
    """For a chained reference (``subject:Patient.name=x``): per target type, the criterion
    the referenced resource must meet."""
    has: tuple[str, str, Criterion] | None = None
    """For ``_has:Source:refParam:...``: the source type, its reference parameter and the
    criterion the referring resource must meet."""


@dataclass(frozen=True, slots=True)
class Include:
    """``_include=Source:param[:Target]`` (forward) or ``_revinclude=Source:param[:Target]``
    (reverse); ``param`` is ``*`` for every reference parameter; ``iterate`` repeats it on
    what was included."""

    reverse: bool
    source_type: str
    param: str
    target_type: str | None
    iterate: bool


@dataclass
class SearchRequest:
    """A parsed search on one resource type (or several: compartment ``*``, $everything)."""

    resource_type: str
    """The type searched, or ``*`` for several (then ``types`` lists them)."""
    types: list[str] = field(default_factory=list)
    compartment: tuple[str, str] | None = None
    """``(compartment type, id)``, e.g. ``("Encounter", "7")``: restrict to that compartment."""
    since: Any = None
    """``$everything``'s ``_since``: only resources updated at or after this instant."""
    include_types: list[str] | None = None
    """``$everything``'s ``_type``: included resources are limited to these types too."""
    criteria: list[Criterion] = field(default_factory=list)
    count: int = 20
    cursor: str | None = None
    """Opaque position after which the page starts (``_cursor``)."""
    sort: list[tuple[SearchParameterDef, bool]] = field(default_factory=list)
    """``_sort`` keys: (parameter, descending)."""
    total: str | None = None
    summary: str | None = None
    elements: list[str] | None = None
    includes: list[Include] = field(default_factory=list)
    """``_include`` and ``_revinclude`` requests, in order."""
    self_params: list[tuple[str, str]] = field(default_factory=list)
    """The parameters the search actually used, for the ``self`` link."""
    access: Any = None
    """The caller's :class:`~platform_core.fhir.access.AccessFilter` (set by the repository;
    None: the caller reaches everything). It narrows the SQL itself."""
