"""Index extraction: resource -> rows for the search-index tables, on every write.

Each search parameter's FHIRPath expression is compiled once into a list of plain element
paths (``Patient.identifier``, ``(Observation.value as CodeableConcept)``), which a small
walker follows through the resource dict: much faster than evaluating FHIRPath per write.
Expressions outside that shape (``where()``, functions) compile to None and are not indexed
yet; the definition stays the source of truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from platform_core.fhir import definitions
from platform_core.fhir.search.model import SearchParameterDef

_PART_RE = re.compile(
    r"^\(?(?P<path>[A-Z][A-Za-z]+(?:\.[a-z][A-Za-z0-9]*)+)"
    r"(?:\s+as\s+(?P<cast>[A-Za-z]+))?\)?"
    r"(?:\.where\(resolve\(\) is [A-Za-z]+\))?$"
)
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})

CompiledPath = tuple[tuple[str, ...], str | None, bool]
"""(element names after the type, ``as`` cast of the last step, whether the last step may be a
choice element written as name + type suffix)."""


def compile_expression(expression: str, resource_type: str) -> list[CompiledPath] | None:
    """Compile the parts of ``expression`` that apply to ``resource_type``.

    Returns None when some applicable part is not a plain path, so that no parameter is
    indexed only partly.
    """
    paths: list[CompiledPath] = []
    for raw in expression.split("|"):
        part = raw.strip()
        head = part.lstrip("(").split(".", 1)[0]
        if head not in (resource_type, "Resource", "DomainResource"):
            continue
        match = _PART_RE.match(part)
        if not match:
            return None
        steps = tuple(match["path"].split(".")[1:])
        paths.append((steps, match["cast"], _may_be_choice(head, steps)))
    return paths or None


def walk(resource: dict[str, Any], compiled: list[CompiledPath]) -> Iterator[Any]:
    """Yield every value the compiled paths reach."""
    for steps, cast, choice in compiled:
        nodes: list[Any] = [resource]
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            nxt: list[Any] = []
            for node in nodes:
                if not isinstance(node, dict):
                    continue
                if last and cast:
                    value = node.get(step + cast[0].upper() + cast[1:])
                else:
                    value = node.get(step)
                    if value is None and last and choice:
                        value = _choice_value(node, step)
                if value is None:
                    continue
                if isinstance(value, list):
                    nxt.extend(v for v in value if v is not None)
                else:
                    nxt.append(value)
            nodes = nxt
        yield from nodes


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


def token_values(value: Any) -> Iterator[tuple[str | None, str | None, str | None]]:
    """(system, code, display text) triples a token parameter indexes for one value."""
    if isinstance(value, bool):
        yield None, "true" if value else "false", None
    elif isinstance(value, str):
        yield None, value, None
    elif isinstance(value, dict):
        if "coding" in value or ("text" in value and "value" not in value):
            for coding in value.get("coding", []):
                if isinstance(coding, dict) and (coding.get("code") or coding.get("system")):
                    yield coding.get("system"), coding.get("code"), coding.get("display")
            if "coding" not in value and "text" in value:
                yield None, None, value["text"]
        elif "code" in value:
            yield value.get("system"), value.get("code"), value.get("display")
        elif "value" in value:
            system = value.get("system")
            if isinstance(system, str) and system in _CONTACT_SYSTEMS:
                yield None, value["value"], None
            else:
                yield system, value["value"], None


def reference_values(value: Any, base_url: str) -> Iterator[tuple[str | None, str | None, str]]:
    """(target type, target id, url) for one Reference (or canonical/uri) value."""
    ref = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(ref, str) or ref.startswith("#"):
        return
    url = ref
    if ref.startswith(base_url + "/"):
        ref = ref[len(base_url) + 1 :]
    parts = ref.split("/")
    if len(parts) >= 2 and "://" not in ref and parts[0][:1].isupper():
        yield parts[0], parts[1], url
    else:
        yield None, None, url


def index_rows(
    resource_type: str,
    rid: int,
    resource: dict[str, Any],
    params: tuple[tuple[SearchParameterDef, Any], ...],
    base_url: str,
) -> dict[str, list[dict[str, Any]]]:
    """All index rows of one resource, grouped by index table."""
    rows: dict[str, list[dict[str, Any]]] = {"token": [], "reference": []}
    for param, compiled in params:
        seen: set[tuple[Any, ...]] = set()
        for value in walk(resource, compiled):
            if param.type == "token":
                for system, code, text in token_values(value):
                    key = (system, code, text)
                    if key in seen:
                        continue
                    seen.add(key)
                    rows["token"].append(
                        {
                            "rid": rid,
                            "resource_type": resource_type,
                            "param": param.code,
                            "system": _clip(system),
                            "code": _clip(code),
                            "text": _clip(text),
                        }
                    )
            elif param.type == "reference":
                for target_type, target_id, url in reference_values(value, base_url):
                    key = (target_type, target_id, url)
                    if key in seen:
                        continue
                    seen.add(key)
                    rows["reference"].append(
                        {
                            "rid": rid,
                            "resource_type": resource_type,
                            "param": param.code,
                            "target_type": target_type,
                            "target_id": target_id,
                            "url": url[:1024],
                        }
                    )
    return rows


def _clip(text: str | None, size: int = 512) -> str | None:
    return text[:size] if isinstance(text, str) else None
