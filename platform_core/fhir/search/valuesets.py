"""Value-set expansion for the ``:in`` and ``:not-in`` token modifiers.

The value set is looked up by canonical URL among the ValueSets stored on the server (newest
first), then among HL7's R4 value sets shipped as package data. A stored ValueSet is expanded
from its ``expansion.contains`` when it has one, otherwise from ``compose``: explicit concepts,
and whole code systems found among the stored CodeSystems; ``exclude`` is subtracted. Filters
(``is-a`` and the like) are not evaluated, and such a value set answers 400.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.schema import resource_table, uri_index
from platform_core.fhir import definitions, error_codes, jsonio
from platform_core.fhir.errors import FhirError
from platform_core.fhir.search.model import Criterion, SearchRequest

MAX_CODES = 10_000
R = resource_table.c
U = uri_index.c


NO_CODE = "urn:fireside:none|  "
"""A token no resource has (a FHIR code never holds two spaces in a row): what an empty value
set matches. Not a NUL character: PostgreSQL refuses those in text."""


def expand_in_criteria(conn: Connection, request: SearchRequest) -> None:
    """Replace every ``:in``/``:not-in`` criterion (chains included) by its code list."""
    request.criteria = [_expand(conn, c) for c in request.criteria]


def _expand(conn: Connection, criterion: Criterion) -> Criterion:
    if criterion.chain:
        chain = tuple((t, _expand(conn, inner)) for t, inner in criterion.chain)
        return replace(criterion, chain=chain)
    if criterion.has is not None:
        source, ref, inner = criterion.has
        return replace(criterion, has=(source, ref, _expand(conn, inner)))
    if criterion.modifier not in {"in", "not-in"}:
        return criterion
    codes: set[tuple[str, str]] = set()
    for url in criterion.values:
        codes |= expand(conn, url, criterion.raw_name)
    # A plain ``code`` element carries no system in the resource (it is implied by the
    # binding): a value set's code also matches a token indexed without a system.
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


def expand(conn: Connection, url: str, name: str) -> set[tuple[str, str]]:
    """The (system, code) pairs of the value set ``url``."""
    stored = _stored(conn, "ValueSet", url)
    if stored is not None:
        return _expand_stored(conn, stored, name)
    official = definitions.value_set_codes(url)
    if official is not None:
        return set(official)
    raise FhirError.of(
        400, error_codes.INVALID_SEARCH_VALUE, f"{name}: no ValueSet {url!r} is known", name
    )


def _stored(conn: Connection, resource_type: str, url: str) -> dict[str, Any] | None:
    base = url.split("|", 1)[0]
    row = conn.execute(
        sa.select(R.content)
        .where(
            R.resource_type == resource_type,
            R.deleted.is_(False),
            R.rid.in_(
                sa.select(U.rid).where(
                    U.resource_type == resource_type, U.param == "url", U.uri == base
                )
            ),
        )
        .order_by(R.last_updated.desc())
        .limit(1)
    ).first()
    return jsonio.loads_stored(row[0]) if row else None


def _expand_stored(conn: Connection, value_set: dict[str, Any], name: str) -> set[tuple[str, str]]:
    expansion = value_set.get("expansion")
    if isinstance(expansion, dict) and expansion.get("contains"):
        return set(_contains(expansion["contains"]))
    compose = value_set.get("compose") or {}
    codes = _section(conn, compose.get("include", []), name)
    codes -= _section(conn, compose.get("exclude", []), name)
    if len(codes) > MAX_CODES:
        raise FhirError.of(
            400, error_codes.INVALID_SEARCH_VALUE, f"{name}: the value set is too large", name
        )
    return codes


def _contains(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if item.get("code") and item.get("system"):
            out.append((item["system"], item["code"]))
        out += _contains(item.get("contains", []))
    return out


def _section(conn: Connection, includes: list[dict[str, Any]], name: str) -> set[tuple[str, str]]:
    codes: set[tuple[str, str]] = set()
    for include in includes:
        if include.get("filter"):
            raise FhirError.of(
                400,
                error_codes.UNSUPPORTED_SEARCH_FEATURE,
                f"{name}: value sets with compose filters cannot be expanded here",
                name,
            )
        for nested in include.get("valueSet", []):
            codes |= expand(conn, nested, name)
        system = include.get("system")
        if not system:
            continue
        if include.get("concept"):
            codes |= {(system, c["code"]) for c in include["concept"] if c.get("code")}
            continue
        code_system = _stored(conn, "CodeSystem", system)
        if code_system is None:
            raise FhirError.of(
                400,
                error_codes.UNSUPPORTED_SEARCH_FEATURE,
                f"{name}: the whole code system {system} is included, and it is not stored here",
                name,
            )
        codes |= {(system, code) for code in _concepts(code_system.get("concept", []))}
    return codes


def _concepts(concepts: list[dict[str, Any]]) -> list[str]:
    out = []
    for concept in concepts:
        if concept.get("code"):
            out.append(concept["code"])
        out += _concepts(concept.get("concept", []))
    return out
