"""Search parameters per resource type, from the official R4 SearchParameter definitions.

``_id`` and ``_lastUpdated`` are answered from columns of ``fhir_resource``; every other
parameter from the index tables. A parameter whose FHIRPath expression the extractor cannot
compile is known but not yet searchable: a search using it answers a clear "not supported".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from platform_core.fhir import definitions
from platform_core.fhir.search.composite import compile_composite
from platform_core.fhir.search.extract import CompiledPaths, compile_expression
from platform_core.fhir.search.model import SearchParameterDef

INDEXED_TYPES = frozenset(
    {"token", "reference", "string", "date", "number", "quantity", "uri", "composite", "special"}
)
"""Parameter types the index is written for (the search issue extends this)."""

NOT_IMPLEMENTED: frozenset[str] = frozenset()
"""Parameters whose semantics need more than their path: known, but not indexed or
advertised until implemented."""
ENCODINGS = {"phonetic": "phonetic"}
"""Official parameters (by code) whose values are indexed by a rule of their own (see
``SearchParameterDef.encoding``): ``phonetic`` indexes names as Soundex keys."""

SPECIAL = {
    "_list": SearchParameterDef("_list", "reference", None),
    "_id": SearchParameterDef("_id", "token", None),
    "_lastUpdated": SearchParameterDef("_lastUpdated", "date", None),
}


@cache
def parameters_for(resource_type: str) -> dict[str, SearchParameterDef]:
    """Every search parameter of ``resource_type`` by code."""
    result: dict[str, SearchParameterDef] = dict(SPECIAL)
    for sp in definitions.search_parameters():
        bases = sp.get("base", [])
        if resource_type not in bases and "Resource" not in bases and "DomainResource" not in bases:
            continue
        code = sp["code"]
        if code in SPECIAL:
            continue
        result[code] = SearchParameterDef(
            code=code,
            type=sp["type"],
            expression=sp.get("expression"),
            targets=tuple(sp.get("target", ())),
            components=_components(sp),
            encoding=ENCODINGS.get(code),
        )
    return result


@cache
def _types_by_url() -> dict[str, str]:
    return {sp["url"]: sp["type"] for sp in definitions.search_parameters()}


def official_type(url: str) -> str | None:
    """The type of HL7's R4 SearchParameter with canonical ``url`` (None if there is none)."""
    return _types_by_url().get(url.split("|", 1)[0])


def _components(sp: dict[str, object]) -> tuple[tuple[str, str], ...]:
    if sp.get("type") != "composite":
        return ()
    types = _types_by_url()
    out = []
    for component in sp.get("component", []):  # type: ignore[attr-defined]
        out.append((types.get(component["definition"], "?"), component["expression"]))
    return tuple(out)


@cache
def indexed_parameters(resource_type: str) -> tuple[tuple[SearchParameterDef, object], ...]:
    """The parameters indexed on write for ``resource_type``, with their compiled paths."""
    out = []
    for param in parameters_for(resource_type).values():
        if param.type not in INDEXED_TYPES or not param.expression:
            continue
        if param.code in NOT_IMPLEMENTED:
            continue
        if param.type == "composite":
            composite = compile_composite(param, resource_type)
            if composite is not None:
                out.append((param, composite))
            continue
        compiled = compile_expression(param.expression, resource_type)
        if compiled is not None:
            out.append((param, compiled))
    return tuple(out)


def compile_custom(param: SearchParameterDef, resource_type: str) -> object:
    """A custom parameter's compiled paths for ``resource_type`` (a
    :class:`~.composite.CompiledComposite` for a composite); None when it does not apply."""
    if param.type == "composite":
        return compile_composite(param, resource_type)
    return compile_expression(param.expression or "", resource_type)


@cache
def _single_valued(resource_type: str, code: str) -> bool:
    compiled = dict(indexed_parameters(resource_type)).get(parameters_for(resource_type).get(code))
    if not isinstance(compiled, CompiledPaths) or len(compiled.paths) != 1:
        return False  # a composite, or several paths
    try:
        model = definitions.element_model(resource_type)
    except KeyError:
        return False
    names: list[str] = []
    for step in compiled.paths[0]:
        if step.kind != "name":
            return False
        names.append(step.arg)
        element = model.element(".".join(names)) or model.element(".".join(names) + "[x]")
        if element is None or element.max != 1:
            return False
    return True


def is_single_valued(resource_type: str, param: SearchParameterDef) -> bool:
    """True when ``param`` reaches at most one value per resource (``Patient.birthDate``),
    judged from the element model along its one path."""
    return _single_valued(resource_type, param.code)


@cache
def searchable_codes(resource_type: str) -> frozenset[str]:
    """Codes of the parameters of ``resource_type`` that searches can use."""
    return frozenset(SPECIAL) | {p.code for p, _ in indexed_parameters(resource_type)}


def is_searchable(resource_type: str, param: SearchParameterDef) -> bool:
    """True when searches on ``param`` can be answered."""
    return param.code in searchable_codes(resource_type)


@dataclass(frozen=True)
class CustomParameter:
    """A SearchParameter resource created on this server, as the registry uses it."""

    resource_id: str
    param: SearchParameterDef
    bases: tuple[str, ...]
    status: str
    """``reindexing`` (written on every write, not yet searchable), ``active`` or ``failed``."""
    processed: int = 0
    total: int = 0


class SearchRegistry:
    """The parameters a search or a write uses: the official R4 ones plus the server's custom
    SearchParameters. Built per request from a snapshot, so every node sees the same set."""

    def __init__(self, custom: tuple[CustomParameter, ...] = ()) -> None:
        self.custom = custom
        self._by_type: dict[str, list[CustomParameter]] = {}
        for item in custom:
            for base in item.bases:
                self._by_type.setdefault(base, []).append(item)

    def parameters_for(self, resource_type: str) -> dict[str, SearchParameterDef]:
        """Every parameter of ``resource_type`` by code (custom ones included)."""
        extra = self._by_type.get(resource_type)
        if not extra:
            return parameters_for(resource_type)
        merged = dict(parameters_for(resource_type))
        merged.update({c.param.code: c.param for c in extra})
        return merged

    def indexed_parameters(
        self, resource_type: str
    ) -> tuple[tuple[SearchParameterDef, object], ...]:
        """What a write indexes: official plus custom parameters that are being indexed or
        active (so that writes during a reindex are never missed)."""
        extra = self._by_type.get(resource_type)
        if not extra:
            return indexed_parameters(resource_type)
        compiled = [
            (c.param, compile_custom(c.param, resource_type))
            for c in extra
            if c.status in {"reindexing", "active"}
        ]
        return indexed_parameters(resource_type) + tuple((p, x) for p, x in compiled if x)

    def is_searchable(self, resource_type: str, param: SearchParameterDef) -> bool:
        """Official indexed parameters, and custom ones whose reindex has completed."""
        for item in self._by_type.get(resource_type, ()):
            if item.param.code == param.code:
                return item.status == "active"
        return is_searchable(resource_type, param)

    def pending(self, resource_type: str, code: str) -> CustomParameter | None:
        """The custom parameter ``code`` of ``resource_type`` if it is not searchable yet."""
        for item in self._by_type.get(resource_type, ()):
            if item.param.code == code and item.status != "active":
                return item
        return None


OFFICIAL = SearchRegistry()
"""The registry without custom parameters."""
