"""Terminology for the token modifiers ``:in``, ``:not-in``, ``:below`` and ``:above``.

Before a search runs, each such criterion is replaced by the plain list of codes it stands
for (``:not-in`` by ``:not`` with that list):

* ``:in``/``:not-in``: the codes of a value set, looked up by canonical URL among the
  ValueSets stored on the server (newest first), then among HL7's R4 value sets shipped as
  package data. A stored ValueSet is expanded from its ``expansion.contains`` when it has one,
  otherwise from ``compose``: each ``include`` selects explicit concepts, a whole stored
  CodeSystem, or the concepts of a stored CodeSystem that pass every ``filter``, intersected
  with the value sets it names; the includes are united and the ``exclude`` sections
  subtracted. Filters are evaluated against the stored CodeSystem (:mod:`.filters`).
* ``:below``/``:above`` (``system|code``): the code and every code it subsumes (below) or that
  subsumes it (above) in the stored CodeSystem ``system`` (:mod:`.codesystems`). A system with
  no stored CodeSystem has no hierarchy here, so the code matches only itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from platform_core.fhir import definitions, error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.search import codesystems
from platform_core.fhir.search.clauses import split_pipe
from platform_core.fhir.search.filters import apply_filter
from platform_core.fhir.search.model import Criterion, SearchRequest

MAX_CODES = 10_000

NO_CODE = "urn:fireside:none|  "
"""A token no resource has (a FHIR code never holds two spaces in a row): what an empty value
set matches. Not a NUL character: PostgreSQL refuses those in text."""

TERMINOLOGY_MODIFIERS = frozenset({"in", "not-in", "below", "above"})


def expand_in_criteria(conn: Connection, request: SearchRequest) -> None:
    """Replace every ``:in``, ``:not-in``, ``:below`` and ``:above`` token criterion (chains
    and ``_has`` included) by its code list."""
    request.criteria = [_expand(conn, c) for c in request.criteria]


def _expand(conn: Connection, criterion: Criterion) -> Criterion:
    if criterion.chain:
        chain = tuple((t, _expand(conn, inner)) for t, inner in criterion.chain)
        return replace(criterion, chain=chain)
    if criterion.has is not None:
        source, ref, inner = criterion.has
        return replace(criterion, has=(source, ref, _expand(conn, inner)))
    if criterion.param.type != "token" or criterion.modifier not in TERMINOLOGY_MODIFIERS:
        return criterion
    codes: set[tuple[str, str]] = set()
    for value in criterion.values:
        if criterion.modifier in {"in", "not-in"}:
            codes |= expand(conn, value, criterion.raw_name)
        else:
            codes |= subsumption(conn, criterion, value)
    _check_size(codes, criterion.raw_name)
    # A plain ``code`` element carries no system in the resource (it is implied by the
    # binding): a code of the set also matches a token indexed without a system.
    values = tuple(
        value
        for s, c in sorted(codes)
        for value in (f"{_escape(s)}|{_escape(c)}", f"|{_escape(c)}")
    ) or (NO_CODE,)
    return replace(
        criterion, modifier="not" if criterion.modifier == "not-in" else None, values=values
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("$", "\\$")


def _check_size(codes: set[tuple[str, str]], name: str) -> None:
    if len(codes) > MAX_CODES:
        raise FhirError.of(
            400,
            error_codes.UNSUPPORTED_SEARCH_FEATURE,
            f"{name}: the value set or hierarchy has more than {MAX_CODES} codes",
            name,
        )


def subsumption(conn: Connection, criterion: Criterion, value: str) -> set[tuple[str, str]]:
    """``:below`` / ``:above`` of ``system|code``: the code and the codes below (or above) it
    in the stored CodeSystem ``system``; only the code itself when none is stored."""
    system, code = split_pipe(value)
    if not system or not code:
        raise FhirError.of(
            400,
            error_codes.INVALID_SEARCH_VALUE,
            f"{criterion.raw_name}={value!r}: :{criterion.modifier} takes system|code",
            criterion.raw_name,
        )
    index = codesystems.load(conn, system)
    related: set[str] = set()
    if index is not None:
        related = (
            index.descendants(code) if criterion.modifier == "below" else index.ancestors(code)
        )
    return {(system, c) for c in {code, *related}}


def expand(
    conn: Connection, url: str, name: str, seen: frozenset[str] = frozenset()
) -> set[tuple[str, str]]:
    """The (system, code) pairs of the value set ``url`` (``seen``: the value sets being
    expanded around it, so that one including itself is an error, not endless)."""
    if url in seen:
        raise FhirError.of(
            400,
            error_codes.UNSUPPORTED_SEARCH_FEATURE,
            f"{name}: the value set {url!r} includes itself",
            name,
        )
    stored = codesystems.stored_resource(conn, "ValueSet", url)
    if stored is not None:
        return _expand_stored(conn, stored, name, seen | {url})
    official = definitions.value_set_codes(url)
    if official is not None:
        return set(official)
    raise FhirError.of(
        400, error_codes.INVALID_SEARCH_VALUE, f"{name}: no ValueSet {url!r} is known", name
    )


def _expand_stored(
    conn: Connection, value_set: dict[str, Any], name: str, seen: frozenset[str]
) -> set[tuple[str, str]]:
    expansion = value_set.get("expansion")
    if isinstance(expansion, dict) and expansion.get("contains"):
        return set(_contains(expansion["contains"]))
    compose = value_set.get("compose") or {}
    codes = _section(conn, compose.get("include", []), name, seen)
    codes -= _section(conn, compose.get("exclude", []), name, seen)
    _check_size(codes, name)
    return codes


def _contains(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if item.get("code") and item.get("system"):
            out.append((item["system"], item["code"]))
        out += _contains(item.get("contains", []))
    return out


def _section(
    conn: Connection, includes: list[dict[str, Any]], name: str, seen: frozenset[str]
) -> set[tuple[str, str]]:
    """The union of the ``include`` (or ``exclude``) entries."""
    codes: set[tuple[str, str]] = set()
    for include in includes:
        codes |= _include(conn, include, name, seen)
    return codes


def _include(
    conn: Connection, include: dict[str, Any], name: str, seen: frozenset[str]
) -> set[tuple[str, str]]:
    """One ``include``: the codes its system part selects, intersected with each value set it
    names (R4 ValueSet.compose.include.valueSet)."""
    selected: set[tuple[str, str]] | None = None
    system = include.get("system")
    if system:
        selected = _from_system(conn, system, include, name)
    for nested in include.get("valueSet", []):
        codes = expand(conn, nested, name, seen)
        selected = codes if selected is None else selected & codes
    return selected or set()


def _from_system(
    conn: Connection, system: str, include: dict[str, Any], name: str
) -> set[tuple[str, str]]:
    if include.get("concept"):
        return {(system, c["code"]) for c in include["concept"] if c.get("code")}
    index = codesystems.load(conn, system)
    if index is None:
        what = "filters on" if include.get("filter") else "the whole code system"
        raise FhirError.of(
            400,
            error_codes.UNSUPPORTED_SEARCH_FEATURE,
            f"{name}: the value set uses {what} {system}, and that CodeSystem is not stored here",
            name,
        )
    chosen = set(index.codes)
    for item in include.get("filter", []):
        chosen &= apply_filter(index, item, name)
    return {(system, code) for code in chosen}
