"""Query parameters -> :class:`SearchRequest`, with the spec's errors for bad input.

An unknown parameter, an unsupported modifier or a malformed value answers 400 naming it,
unless the client sent ``Prefer: handling=lenient``; then it is ignored and left out of the
``self`` link.
"""

from __future__ import annotations

from typing import Any

from platform_core.config import Settings
from platform_core.fhir import definitions, error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.search import registry
from platform_core.fhir.search.clauses import MODIFIERS
from platform_core.fhir.search.model import Criterion, Include, SearchParameterDef, SearchRequest

RESULT_PARAMS = frozenset(
    {"_count", "_total", "_summary", "_elements", "_cursor", "_sort", "_include", "_revinclude"}
)
IGNORED_PARAMS = frozenset({"_format", "_pretty"})


TEXT_PARAMETERS = frozenset({"_text", "_content"})
"""Full-text parameters, answered through the ``fhir_text_search`` hook."""


def split_values(raw: str) -> list[str]:
    """Split an OR list on commas, honouring ``\\,`` escapes."""
    values, current, i = [], [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in ",$|\\":
            current.append("\\" + raw[i + 1] if raw[i + 1] in "|$" else raw[i + 1])
            i += 2
            continue
        if ch == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    values.append("".join(current))
    return values


def parse_search(
    resource_type: str,
    params: list[tuple[str, str]],
    settings: Settings,
    *,
    lenient: bool = False,
    reg: registry.SearchRegistry = registry.OFFICIAL,
) -> SearchRequest:
    """Parse the query of a search on ``resource_type``."""
    request = SearchRequest(resource_type=resource_type, count=settings.default_page_size)
    for name, raw in params:
        if name in IGNORED_PARAMS:
            continue
        base_name = name.split(":", 1)[0]
        if base_name in {"_include", "_revinclude"}:
            _include_param(request, name, raw, lenient, reg)
            continue
        if name in RESULT_PARAMS:
            _result_param(request, name, raw, settings, lenient, reg)
            continue
        try:
            if resource_type == "*" and name not in {"_id", "_lastUpdated"}:
                raise _problem(
                    error_codes.UNSUPPORTED_SEARCH_FEATURE,
                    f"Across several resource types only _id and _lastUpdated work, not {name}",
                    name,
                )
            criterion = parse_criterion(resource_type, name, raw, depth=0, reg=reg)
        except FhirError:
            if lenient:
                continue
            raise
        request.criteria.append(criterion)
        request.self_params.append((name, raw))
    return request


MAX_CHAIN_DEPTH = 4
"""How deep chains and ``_has`` may nest."""


def parse_criterion(
    resource_type: str,
    name: str,
    raw: str,
    *,
    depth: int,
    reg: registry.SearchRegistry = registry.OFFICIAL,
) -> Criterion:
    """One ``name=raw`` criterion on ``resource_type``: plain, chained
    (``subject:Patient.name``) or reverse-chained (``_has:Observation:patient:code``)."""
    if depth > MAX_CHAIN_DEPTH:
        raise _problem(
            error_codes.UNSUPPORTED_SEARCH_FEATURE, f"{name}: chains nest at most 4 deep", name
        )
    if name.startswith("_has:"):
        return _parse_has(resource_type, name, raw, depth, reg)
    head, dot, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    param = reg.parameters_for(resource_type).get(code)
    if param is None:
        raise _problem(
            error_codes.UNKNOWN_SEARCH_PARAMETER,
            f"Unknown search parameter {code!r} for {resource_type}",
            name,
        )
    if dot:
        return _parse_chain(resource_type, param, modifier or None, rest, name, raw, depth, reg)
    if code in TEXT_PARAMETERS:
        if modifier or depth:
            raise _problem(
                error_codes.UNSUPPORTED_SEARCH_FEATURE,
                f"{code} takes no modifier and works only on the type searched",
                name,
            )
        if not raw.strip():
            raise _problem(error_codes.INVALID_SEARCH_VALUE, f"Empty value in {name}", name)
        # Answered by the global search backend (Repository.search resolves it to ids).
        return Criterion(param, None, (raw,), name)
    pending = reg.pending(resource_type, code)
    if pending is not None:
        raise _problem(
            error_codes.UNSUPPORTED_SEARCH_FEATURE,
            f"{resource_type}.{code} is a custom parameter whose index is {pending.status} "
            f"({pending.processed} of {pending.total} resources); it becomes searchable when "
            "the reindex completes",
            name,
        )
    if not reg.is_searchable(resource_type, param) or not _modifier_ok(param, modifier or None):
        what = f"modifier :{modifier} of " if modifier else ""
        raise _problem(
            error_codes.UNSUPPORTED_SEARCH_FEATURE,
            f"Search on {what}{resource_type}.{code} ({param.type}) is not supported yet",
            name,
        )
    values = tuple(split_values(raw))
    if raw == "" or any(v == "" for v in values):
        raise _problem(error_codes.INVALID_SEARCH_VALUE, f"Empty value in {name}={raw}", name)
    return Criterion(param, modifier or None, values, name)


def _parse_chain(
    resource_type: str,
    param: SearchParameterDef,
    target: str | None,
    rest: str,
    name: str,
    raw: str,
    depth: int,
    reg: registry.SearchRegistry,
) -> Criterion:
    if param.type != "reference" or not reg.is_searchable(resource_type, param):
        raise _problem(
            error_codes.INVALID_SEARCH_VALUE,
            f"{name}: only a reference parameter can be chained, and {param.code} is {param.type}",
            name,
        )
    if target is not None and not _modifier_ok(param, target):
        raise _problem(error_codes.INVALID_SEARCH_VALUE, f"{name}: bad target {target!r}", name)
    targets = (target,) if target else param.targets
    chain = []
    errors = []
    for target_type in targets:
        try:
            chain.append(
                (target_type, parse_criterion(target_type, rest, raw, depth=depth + 1, reg=reg))
            )
        except FhirError as exc:
            errors.append(exc)
    if not chain:
        raise (
            errors[0]
            if errors
            else _problem(
                error_codes.INVALID_SEARCH_VALUE, f"{name}: no target type to chain into", name
            )
        )
    return Criterion(param, target, (raw,), name, chain=tuple(chain))


def _parse_has(
    resource_type: str, name: str, raw: str, depth: int, reg: registry.SearchRegistry
) -> Criterion:
    parts = name.split(":", 3)
    if len(parts) != 4 or not definitions.is_resource_type(parts[1]):
        raise _problem(
            error_codes.INVALID_SEARCH_VALUE,
            f"{name}: use _has:SourceType:referenceParameter:searchParameter",
            name,
        )
    _, source, ref_code, inner = parts
    ref = reg.parameters_for(source).get(ref_code)
    if ref is None or ref.type != "reference" or not reg.is_searchable(source, ref):
        raise _problem(
            error_codes.INVALID_SEARCH_VALUE,
            f"{name}: {source} has no reference parameter {ref_code!r}",
            name,
        )
    if ref.targets and resource_type not in ref.targets:
        raise _problem(
            error_codes.INVALID_SEARCH_VALUE,
            f"{name}: {source}.{ref_code} never refers to a {resource_type}",
            name,
        )
    inner_criterion = parse_criterion(source, inner, raw, depth=depth + 1, reg=reg)
    return Criterion(HAS_PARAM, None, (raw,), name, has=(source, ref_code, inner_criterion))


HAS_PARAM = SearchParameterDef("_has", "special", None)


def _problem(error: Any, message: str, name: str) -> FhirError:
    return FhirError.of(400, error, message, name)


def _result_param(
    request: SearchRequest,
    name: str,
    raw: str,
    settings: Settings,
    lenient: bool,
    reg: registry.SearchRegistry,
) -> None:
    if name == "_count":
        try:
            count = int(raw)
            if count < 0:
                raise ValueError
        except ValueError:
            if lenient:
                return
            raise FhirError.of(
                400,
                error_codes.INVALID_SEARCH_VALUE,
                f"_count must be a non-negative integer, got {raw!r}",
                "_count",
            ) from None
        request.count = min(count, settings.max_page_size)
        request.self_params.append((name, str(request.count)))
    elif name == "_cursor":
        request.cursor = raw
    elif name == "_total":
        if raw not in {"none", "estimate", "accurate"}:
            if lenient:
                return
            raise FhirError.of(
                400,
                error_codes.INVALID_SEARCH_VALUE,
                "_total must be none, estimate or accurate",
                "_total",
            )
        request.total = raw
        request.self_params.append((name, raw))
    elif name == "_summary":
        request.summary = raw
        request.self_params.append((name, raw))
    elif name == "_elements":
        request.elements = [e.strip() for e in raw.split(",") if e.strip()]
        request.self_params.append((name, raw))
    elif name == "_sort":
        _sort_param(request, raw, lenient, reg)


def _modifier_ok(param: SearchParameterDef, modifier: str | None) -> bool:
    if param.code == "_id":
        return modifier in {None, "not"}
    if param.code == "_list":
        return modifier is None
    if param.code == "_lastUpdated":
        return modifier is None
    if param.encoding == "phonetic":
        return modifier in {None, "missing"}
    if param.type == "reference" and modifier and modifier[:1].isupper():
        return definitions.is_resource_type(modifier) and (
            not param.targets or modifier in param.targets
        )
    return modifier in MODIFIERS.get(param.type, frozenset())


def _include_param(
    request: SearchRequest, name: str, raw: str, lenient: bool, reg: registry.SearchRegistry
) -> None:
    """``_include[:iterate]=Source:param[:Target]`` or ``*``; same for ``_revinclude``."""
    base_name, _, modifier = name.partition(":")
    problem = None
    if modifier not in {"", "iterate", "recurse"}:
        problem = f"{name}: the only modifier is :iterate"
    parts = raw.split(":")
    include = None
    if problem is None:
        if raw == "*":
            include = Include(base_name == "_revinclude", "*", "*", None, bool(modifier))
        elif len(parts) in (2, 3) and definitions.is_resource_type(parts[0]):
            source, code = parts[0], parts[1]
            target = parts[2] if len(parts) == 3 else None
            param = reg.parameters_for(source).get(code)
            if code != "*" and (param is None or param.type != "reference"):
                problem = f"{name}={raw}: {source} has no reference parameter {code!r}"
            elif target is not None and not definitions.is_resource_type(target):
                problem = f"{name}={raw}: {target!r} is not a resource type"
            else:
                include = Include(base_name == "_revinclude", source, code, target, bool(modifier))
        else:
            problem = f"{name}={raw}: use SourceType:parameter[:TargetType]"
    if problem:
        if lenient:
            return
        raise FhirError.of(400, error_codes.INVALID_SEARCH_VALUE, problem, name)
    assert include is not None
    request.includes.append(include)
    request.self_params.append((name, raw))


def _sort_param(
    request: SearchRequest, raw: str, lenient: bool, reg: registry.SearchRegistry
) -> None:
    """``_sort=a,-b``: sortable are ``_id``, ``_lastUpdated`` and every indexed parameter."""
    keys = []
    known = reg.parameters_for(request.resource_type)
    for item in raw.split(","):
        name = item.strip()
        descending = name.startswith("-")
        code = name.lstrip("-")
        param = known.get(code)
        if (
            request.resource_type == "*"
            or param is None
            or not reg.is_searchable(request.resource_type, param)
        ):
            if lenient:
                continue
            raise FhirError.of(
                400,
                error_codes.INVALID_SEARCH_VALUE,
                f"_sort: {code!r} is not a sortable parameter of {request.resource_type}",
                "_sort",
            )
        keys.append((param, descending))
    if keys:
        request.sort = keys
        request.self_params.append(("_sort", raw))
