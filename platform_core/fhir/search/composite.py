"""Composite search parameters (``code-value-quantity=http://loinc.org|8480-6$gt100``).

A composite's expression selects nodes (the Observation, or each ``component``); each of its
components is a path relative to the node. Every combination of component values found on the
same node becomes one ``fhir_ix_composite`` row, so ``code$value`` only matches a value that
sits next to that code. R4 composites have a token (or, once, a reference) first, then a
token, quantity, number, date or string, and sometimes a third number.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from platform_core.fhir.instants import date_range
from platform_core.fhir.search.extract import (
    CompiledPath,
    CompiledPaths,
    compile_expression,
    walk,
)
from platform_core.fhir.search.model import Criterion, SearchParameterDef
from platform_core.fhir.search.values import CONVERTERS, normalize

SECOND_TYPES = frozenset({"token", "quantity", "number", "date", "string"})
EMPTY_ROW: dict[str, Any] = {
    "c0_system": None,
    "c0_code": None,
    "c1_system": None,
    "c1_code": None,
    "c1_text": None,
    "c1_low": None,
    "c1_high": None,
    "c1_dlow": None,
    "c1_dhigh": None,
    "c2_low": None,
    "c2_high": None,
}


@dataclass(frozen=True)
class CompiledComposite:
    """A composite's node paths and its components' (type, relative paths)."""

    nodes: CompiledPaths
    """Paths to the nodes; an empty path is the resource itself."""
    components: tuple[tuple[str, CompiledPaths], ...]


def compile_composite(param: SearchParameterDef, resource_type: str) -> CompiledComposite | None:
    """Compile a composite for ``resource_type``; None when its shape is not supported."""
    types = [t for t, _ in param.components]
    if not (2 <= len(types) <= 3) or types[0] not in {"token", "reference"}:
        return None
    if types[1] not in SECOND_TYPES or (len(types) == 3 and types[2] != "number"):
        return None
    nodes: list[CompiledPath] = []
    for part in (param.expression or "").split("|"):
        part = part.strip()
        if part == resource_type:
            nodes.append(())
        elif part.split(".", 1)[0] == resource_type:
            compiled = compile_expression(part, resource_type)
            if compiled is None:
                return None
            nodes.extend(compiled.paths)
    if not nodes:
        return None
    components = []
    for kind, relative in param.components:
        # Component paths are relative to the node: compile them under a placeholder head.
        parts = [f"Node.{p.strip()}" for p in relative.split("|")]
        compiled = compile_expression(" | ".join(parts), "Node")
        if compiled is None:
            return None
        components.append((kind, compiled))
    return CompiledComposite(CompiledPaths.of(nodes), tuple(components))


def composite_rows(
    resource: dict[str, Any],
    compiled: CompiledComposite,
    base_url: str,
    converted: dict[tuple[int, int], list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """The composite index rows of one resource.

    ``converted`` remembers, while one resource is indexed, the values each component path
    gives on each node: a resource's composites share their components (an Observation's
    ``code`` belongs to four of them), and the rows are never changed once made.
    """
    memo = {} if converted is None else converted
    rows = []
    for node in walk(resource, compiled.nodes):
        if not isinstance(node, dict):
            continue
        per_component = []
        for kind, paths in compiled.components:
            key = (id(node), id(paths))
            values = memo.get(key)
            if values is None:
                convert = CONVERTERS[kind]
                values = [row for value in walk(node, paths) for row in convert(value, base_url)]
                memo[key] = values
            per_component.append([(kind, v) for v in values])
        for combo in itertools.product(*per_component):
            rows.append(_row(combo))
    return rows


def _row(combo: tuple[tuple[str, dict[str, Any]], ...]) -> dict[str, Any]:
    row = dict(EMPTY_ROW)
    (k0, v0), (k1, v1), *rest = combo
    if k0 == "token":
        row["c0_system"], row["c0_code"] = v0["system"], v0["code"]
    else:
        ref = f"{v0['target_type']}/{v0['target_id']}" if v0["target_id"] else v0["url"]
        row["c0_code"] = ref[:512]
    if k1 in {"token", "quantity"}:
        row["c1_system"], row["c1_code"] = v1["system"], v1["code"]
    if k1 in {"quantity", "number"}:
        row["c1_low"], row["c1_high"] = v1["low"], v1["high"]
    if k1 == "date":
        row["c1_dlow"], row["c1_dhigh"] = v1["low"], v1["high"]
    if k1 == "string":
        row["c1_text"] = v1["value_norm"]
    if rest:
        row["c2_low"], row["c2_high"] = rest[0][1]["low"], rest[0][1]["high"]
    return row


def composite_condition(criterion: Criterion, c: Any, base_url: str) -> Any:
    """``a$b[$c]`` per OR value, each part in its component type's syntax."""
    from platform_core.fhir.search import clauses

    types = [t for t, _ in criterion.param.components]
    ors = []
    for value in criterion.values:
        parts = _split_dollar(value)
        if len(parts) != len(types) or any(p == "" for p in parts):
            raise clauses.bad_value(
                criterion, value, f"give {len(types)} parts separated by $ ({'$'.join(types)})"
            )
        conds = [_first(types[0], parts[0], c, base_url)]
        conds.append(_second(criterion, types[1], parts[1], c, value))
        if len(types) == 3:
            prefix, text = clauses.split_prefix(parts[2])
            number = clauses._number(criterion, value, text)
            conds.append(clauses.number_condition(prefix, c.c2_low, c.c2_high, number))
        ors.append(sa.and_(*conds))
    return sa.or_(*ors)


def _first(kind: str, part: str, c: Any, base_url: str) -> Any:
    from platform_core.fhir.search import clauses

    if kind == "reference":
        ref = part[len(base_url) + 1 :] if part.startswith(base_url + "/") else part
        return c.c0_code == clauses.unescape(ref)
    system, code = clauses.split_pipe(part)
    if system is None:
        return c.c0_code == code
    if system == "":
        return sa.and_(c.c0_system.is_(None), c.c0_code == code)
    if code == "":
        return c.c0_system == system
    return sa.and_(c.c0_system == system, c.c0_code == code)


def _second(criterion: Criterion, kind: str, part: str, c: Any, value: str) -> Any:
    from platform_core.fhir.search import clauses

    if kind == "token":
        system, code = clauses.split_pipe(part)
        if system is None:
            return c.c1_code == code
        if code == "":
            return c.c1_system == system
        return sa.and_(c.c1_system == system, c.c1_code == code)
    if kind == "string":
        return c.c1_text.like(clauses._like_prefix(normalize(clauses.unescape(part))), escape="\\")
    prefix, text = clauses.split_prefix(part.split("|", 1)[0])
    if kind == "date":
        rng = date_range(text)
        if rng is None:
            raise clauses.bad_value(criterion, value, "the date part is not a valid date")
        return clauses.range_condition(prefix, c.c1_dlow, c.c1_dhigh, *rng)
    number = clauses._number(criterion, value, text)
    cond = clauses.number_condition(prefix, c.c1_low, c.c1_high, number)
    if kind == "quantity":
        pieces = part.split("|")
        if len(pieces) == 3:
            if pieces[1]:
                cond = sa.and_(cond, c.c1_system == pieces[1])
            if pieces[2]:
                cond = sa.and_(cond, c.c1_code == pieces[2])
    return cond


def _split_dollar(value: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] == "$":
            current.append("$")
            i += 2
            continue
        if value[i] == "$":
            parts.append("".join(current))
            current = []
        else:
            current.append(value[i])
        i += 1
    parts.append("".join(current))
    return parts
