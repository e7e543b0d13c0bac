"""Index extraction: resource -> rows for the search-index tables, on every write.

Each search parameter's FHIRPath expression is compiled once into a small program over the
resource dict: element steps (``identifier``), type casts (``value.ofType(Quantity)``,
``value as Quantity``), equality filters (``telecom.where(system='phone')``) and reference-type
filters (``subject.where(resolve() is Patient)``, the spec's only use of ``resolve()``). That
covers nearly every R4 search parameter and is far faster than evaluating FHIRPath per write.
An expression outside that shape compiles to None and its parameter is not indexed (and so
not advertised); the definition stays the source of truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from platform_core.fhir import definitions
from platform_core.fhir.search.model import SearchParameterDef
from platform_core.fhir.search.phonetic import phonetic_rows
from platform_core.fhir.search.values import CONVERTERS

ENCODED = {"phonetic": phonetic_rows}
"""Converters of the parameters indexed by a rule of their own (``SearchParameterDef.encoding``)."""

_NAME = re.compile(r"^[a-z][A-Za-z0-9]*$")
_OF_TYPE = re.compile(r"^(?:ofType|as)\(([A-Za-z]+)\)$")
_WHERE_EQ = re.compile(r"^where\(([a-z][A-Za-z0-9]*)\s*=\s*'([^']*)'\)$")
_WHERE_RESOLVE = re.compile(r"^where\(resolve\(\)\s+is\s+([A-Z][A-Za-z]+)\)$")
_AS_SUFFIX = re.compile(r"^(?P<path>.+?)\s+as\s+(?P<cast>[A-Za-z]+)$")


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a compiled path."""

    kind: str
    """``name`` (child element), ``eq`` (keep nodes whose ``arg`` equals ``value``) or
    ``restype`` (keep references to resource type ``arg``)."""
    arg: str
    value: str | None = None
    cast: str | None = None
    """For ``name`` steps: the type suffix of a choice element (``value`` + ``Quantity``)."""
    choice: bool = False
    """For ``name`` steps without a cast: the element may be a choice written with a suffix."""
    key: str = field(init=False, default="")
    """For ``name`` steps: the JSON key looked up (``arg``, plus the cast's suffix)."""

    def __post_init__(self) -> None:
        cast = self.cast
        object.__setattr__(self, "key", self.arg + cast[0].upper() + cast[1:] if cast else self.arg)


CompiledPath = tuple[Step, ...]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledPaths:
    """A parameter's compiled ``|``-separated paths, with the top-level elements they start
    from. Compared by identity: the memo of one resource's indexing keys on it."""

    paths: tuple[CompiledPath, ...]
    heads: frozenset[str] | None
    """The top-level element names the paths start from, or None when a path may start
    anywhere (at the resource itself, with a filter, or at a choice element whose suffix is
    not known). A resource with none of these elements gets no index rows from the
    parameter, so writes skip it without walking: most of a type's parameters name elements
    that a given resource does not have."""

    @classmethod
    def of(cls, paths: list[CompiledPath]) -> CompiledPaths:
        """Wrap ``paths`` and work out their heads."""
        heads: set[str] | None = set()
        for steps in paths:
            if not steps or steps[0].kind != "name" or steps[0].choice:
                heads = None
                break
            heads.add(steps[0].key)
        return cls(tuple(paths), None if heads is None else frozenset(heads))


def _split_steps(text: str) -> list[str] | None:
    """Split on dots outside parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        if ch == "." and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts if depth == 0 else None


def _strip_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _split_steps(text[1:-1]) is not None:
        text = text[1:-1].strip()
    return text


def compile_part(part: str, resource_type: str) -> CompiledPath | None:
    """Compile one ``|``-separated part of an expression; None if out of our subset."""
    text = _strip_parens(part)
    trailing_cast = None
    match = _AS_SUFFIX.match(text)
    if match:
        text, trailing_cast = _strip_parens(match["path"]), match["cast"]
    tokens = _split_steps(text)
    if not tokens or len(tokens) < 2:
        return None
    steps: list[Step] = []
    names: list[str] = []
    for token in tokens[1:]:
        token = token.strip()
        if _NAME.match(token):
            steps.append(Step("name", token))
            names.append(token)
        elif m := _OF_TYPE.match(token):
            if not steps or steps[-1].kind != "name":
                return None
            steps[-1] = Step("name", steps[-1].arg, cast=m.group(1))
        elif m := _WHERE_EQ.match(token):
            steps.append(Step("eq", m.group(1), m.group(2)))
        elif m := _WHERE_RESOLVE.match(token):
            steps.append(Step("restype", m.group(1)))
        else:
            return None
    if trailing_cast:
        if not steps or steps[-1].kind != "name":
            return None
        steps[-1] = Step("name", steps[-1].arg, cast=trailing_cast)
    if steps and steps[-1].kind == "name" and steps[-1].cast is None:
        head = tokens[0].strip()
        if _may_be_choice(head, tuple(names)):
            steps[-1] = Step("name", steps[-1].arg, choice=True)
    return tuple(steps)


def compile_expression(expression: str, resource_type: str) -> CompiledPaths | None:
    """Compile the parts of ``expression`` that apply to ``resource_type``.

    Returns None when some applicable part is outside the subset, so that no parameter is
    indexed only partly.
    """
    paths: list[CompiledPath] = []
    for raw in _split_union(expression):
        head = _strip_parens(raw).split(".", 1)[0].strip()
        if head not in (resource_type, "Resource", "DomainResource"):
            continue
        compiled = compile_part(raw, resource_type)
        if compiled is None:
            return None
        paths.append(compiled)
    return CompiledPaths.of(paths) if paths else None


def _split_union(expression: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in expression:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def walk(resource: dict[str, Any], compiled: CompiledPaths) -> Iterator[Any]:
    """Yield every value the compiled paths reach."""
    for steps in compiled.paths:
        nodes: list[Any] = [resource]
        for step in steps:
            if not nodes:
                break  # most paths end at the first absent element
            kind = step.kind
            if kind == "name":
                nodes = _children(nodes, step)
            elif kind == "eq":
                nodes = [n for n in nodes if isinstance(n, dict) and n.get(step.arg) == step.value]
            else:  # restype
                prefix = step.arg + "/"
                nodes = [n for n in nodes if _references_type(n, prefix)]
        yield from nodes


def _children(nodes: list[Any], step: Step) -> list[Any]:
    """The values of element ``step`` under each of ``nodes``, lists flattened."""
    key, choice = step.key, step.choice
    found: list[Any] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        value = node.get(key)
        if value is None and choice:
            value = _choice_value(node, step.arg)
        if value is None:
            continue
        if isinstance(value, list):
            found.extend(value if None not in value else [v for v in value if v is not None])
        else:
            found.append(value)
    return found


def _references_type(node: Any, prefix: str) -> bool:
    ref = node.get("reference") if isinstance(node, dict) else None
    if ref is None and isinstance(node, dict):
        # A logical reference (``identifier`` only) says its target in ``type``, if at all.
        return node.get("type") == prefix[:-1]
    return isinstance(ref, str) and (ref.startswith(prefix) or f"/{prefix}" in ref)


def _may_be_choice(type_name: str, steps: tuple[str, ...]) -> bool:
    """Whether the last step names a ``[x]`` element (unknown paths: assume it may)."""
    try:
        model = definitions.element_model(type_name)
    except KeyError:
        return True
    path = ".".join(steps)
    if model.element(path + "[x]") is not None:
        return True
    return model.element(path) is None


def _choice_value(node: dict[str, Any], step: str) -> Any:
    for key, value in node.items():
        if key.startswith(step) and len(key) > len(step) and key[len(step)].isupper():
            return value
    return None


def index_rows(
    resource_type: str,
    rid: int,
    resource: dict[str, Any],
    params: tuple[tuple[SearchParameterDef, Any], ...],
    base_url: str,
) -> dict[str, list[dict[str, Any]]]:
    """All index rows of one resource, grouped by index table (duplicates removed)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    present = resource.keys()
    converted: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for param, compiled in params:
        if param.type == "composite":
            from platform_core.fhir.search.composite import composite_rows

            table = rows.setdefault("composite", [])
            seen: set[tuple[Any, ...]] = set()
            for row in composite_rows(resource, compiled, base_url, converted):
                key = tuple(row.values())
                if key not in seen:
                    seen.add(key)
                    table.append(
                        {"rid": rid, "resource_type": resource_type, "param": param.code, **row}
                    )
            continue
        heads = compiled.heads
        if heads is not None and heads.isdisjoint(present):
            continue
        table = rows.setdefault(param.type, [])
        seen = set()
        convert = ENCODED.get(param.encoding or "") or CONVERTERS[param.type]
        for value in walk(resource, compiled):
            if param.type == "token" and isinstance(value, dict) and "type" in value:
                table.extend(_identifier_types(resource_type, rid, param.code, value))
            if param.type == "reference" and isinstance(value, dict) and "identifier" in value:
                tokens = rows.setdefault("token", [])
                tokens.extend(_reference_identifier(resource_type, rid, param.code, value))
            for row in convert(value, base_url):
                key = tuple(row.values())
                if key in seen:
                    continue
                seen.add(key)
                table.append(
                    {"rid": rid, "resource_type": resource_type, "param": param.code, **row}
                )
    return rows


def _identifier_types(
    resource_type: str, rid: int, code: str, identifier: dict[str, Any]
) -> list[dict[str, Any]]:
    """Rows for ``:of-type``: each type coding of an Identifier with its value."""
    kind, value = identifier.get("type"), identifier.get("value")
    if not isinstance(kind, dict) or not isinstance(value, str):
        return []
    return [
        {
            "rid": rid,
            "resource_type": resource_type,
            "param": f"{code}:of-type",
            "system": None,
            "code": f"{coding.get('system')}|{coding.get('code')}|{value}"[:512],
            "text": None,
        }
        for coding in kind.get("coding", [])
        if isinstance(coding, dict) and coding.get("system") and coding.get("code")
    ]


def _reference_identifier(
    resource_type: str, rid: int, code: str, reference: dict[str, Any]
) -> list[dict[str, Any]]:
    """Token rows for ``:identifier``: a Reference's ``identifier`` (a logical reference),
    indexed as ``<code>:identifier`` with its system and value."""
    identifier = reference.get("identifier")
    if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
        return []
    system = identifier.get("system")
    return [
        {
            "rid": rid,
            "resource_type": resource_type,
            "param": f"{code}:identifier",
            "system": system[:512] if isinstance(system, str) else None,
            "code": identifier["value"][:512],
            "text": None,
        }
    ]
