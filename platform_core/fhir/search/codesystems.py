"""CodeSystems stored on the server, as the terminology modifiers use them.

Token ``:below``/``:above`` (subsumption) and ValueSet compose filters (``is-a``,
``descendent-of``, ``=`` on a property...) are evaluated against the CodeSystem whose canonical
``url`` is the coding's system, found among the stored CodeSystems (newest first). Its
hierarchy is the nesting of ``concept`` (a nested concept is subsumed by its parent), plus the
``parent`` and ``child`` concept properties (the standard ``http://hl7.org/fhir/concept-properties``
codes), so a concept may have several parents. A code a CodeSystem does not define has no
ancestors or descendants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.schema import resource_table, uri_index
from platform_core.fhir import jsonio

R = resource_table.c
U = uri_index.c


def stored_resource(conn: Connection, resource_type: str, url: str) -> dict[str, Any] | None:
    """The newest stored ``resource_type`` (ValueSet, CodeSystem) whose ``url`` is ``url``
    (a ``|version`` suffix is ignored)."""
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


@dataclass
class CodeSystemIndex:
    """One CodeSystem's concepts: their hierarchy and property values."""

    url: str
    codes: list[str] = field(default_factory=list)
    """Every code, in document order."""
    parents: dict[str, set[str]] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    properties: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """code -> property code -> values as text (``true``, ``12``, a code...)."""

    def descendants(self, code: str) -> set[str]:
        """Codes subsumed by ``code`` (not ``code`` itself)."""
        return _closure(code, self.children)

    def ancestors(self, code: str) -> set[str]:
        """Codes that subsume ``code`` (not ``code`` itself)."""
        return _closure(code, self.parents)

    def property_values(self, code: str, name: str) -> list[str]:
        """The values of property ``name`` of ``code`` (``code``/``concept``: the code;
        ``display``: its display)."""
        return self.properties.get(code, {}).get(name, [])


def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    frontier = list(edges.get(start, ()))
    while frontier:
        code = frontier.pop()
        if code in seen or code == start:
            continue
        seen.add(code)
        frontier.extend(edges.get(code, ()))
    return seen


def load(conn: Connection, url: str) -> CodeSystemIndex | None:
    """The stored CodeSystem ``url``, indexed; None when none is stored."""
    resource = stored_resource(conn, "CodeSystem", url)
    if resource is None:
        return None
    return index_code_system(resource)


def index_code_system(resource: dict[str, Any]) -> CodeSystemIndex:
    """Index a CodeSystem resource's concepts."""
    index = CodeSystemIndex(url=str(resource.get("url", "")).split("|", 1)[0])
    _walk(index, resource.get("concept", []), None)
    for code, props in index.properties.items():
        for parent in props.get("parent", []):
            _link(index, parent, code)
        for child in props.get("child", []):
            _link(index, code, child)
    return index


def _walk(index: CodeSystemIndex, concepts: Iterable[Any], parent: str | None) -> None:
    for concept in concepts:
        if not isinstance(concept, dict) or not isinstance(concept.get("code"), str):
            continue
        code = concept["code"]
        if code not in index.properties:
            index.codes.append(code)
            index.properties[code] = {}
        props = index.properties[code]
        if isinstance(concept.get("display"), str):
            props.setdefault("display", []).append(concept["display"])
        for prop in concept.get("property", []):
            if isinstance(prop, dict) and isinstance(prop.get("code"), str):
                value = _property_text(prop)
                if value is not None:
                    props.setdefault(prop["code"], []).append(value)
        if parent is not None:
            _link(index, parent, code)
        _walk(index, concept.get("concept", []), code)


def _link(index: CodeSystemIndex, parent: str, child: str) -> None:
    index.children.setdefault(parent, set()).add(child)
    index.parents.setdefault(child, set()).add(parent)


def _property_text(prop: dict[str, Any]) -> str | None:
    """A concept property's value as text (booleans as ``true``/``false``, a Coding as its
    code)."""
    for key, value in prop.items():
        if not key.startswith("value"):
            continue
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict):
            code = value.get("code")
            return code if isinstance(code, str) else None
        return str(value)
    return None
