"""Query parameters -> :class:`SearchRequest`, with the spec's errors for bad input.

An unknown parameter, an unsupported modifier or a malformed value answers 400 naming it,
unless the client sent ``Prefer: handling=lenient``; then it is ignored and left out of the
``self`` link.
"""

from __future__ import annotations

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
) -> SearchRequest:
    """Parse the query of a search on ``resource_type``."""
    request = SearchRequest(resource_type=resource_type, count=settings.default_page_size)
    known = registry.parameters_for(resource_type)
    for name, raw in params:
        if name in IGNORED_PARAMS:
            continue
        base_name = name.split(":", 1)[0]
        if base_name in {"_include", "_revinclude"}:
            _include_param(request, name, raw, lenient)
            continue
        if name in RESULT_PARAMS:
            _result_param(request, name, raw, settings, lenient)
            continue
        code, _, modifier = name.partition(":")
        param = known.get(code)
        problem = None
        if param is None:
            problem = (
                error_codes.UNKNOWN_SEARCH_PARAMETER,
                f"Unknown search parameter {name!r} for {resource_type}",
            )
        elif not registry.is_searchable(resource_type, param) or not _modifier_ok(
            param, modifier or None
        ):
            what = f"modifier :{modifier} of " if modifier else ""
            problem = (
                error_codes.UNSUPPORTED_SEARCH_FEATURE,
                f"Search on {what}{resource_type}.{code} ({param.type}) is not supported yet",
            )
        elif raw == "":
            problem = (error_codes.INVALID_SEARCH_VALUE, f"Search parameter {name!r} has no value")
        if problem:
            if lenient:
                continue
            raise FhirError.of(400, problem[0], problem[1], name)
        assert param is not None
        values = tuple(split_values(raw))
        if any(v == "" for v in values):
            if lenient:
                continue
            raise FhirError.of(
                400, error_codes.INVALID_SEARCH_VALUE, f"Empty value in {name}={raw}", name
            )
        request.criteria.append(Criterion(param, modifier or None, values, name))
        request.self_params.append((name, raw))
    return request


def _result_param(
    request: SearchRequest, name: str, raw: str, settings: Settings, lenient: bool
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
        try:
            request.cursor = int(raw)
        except ValueError:
            raise FhirError.of(
                400, error_codes.INVALID_SEARCH_VALUE, "Invalid paging cursor", "_cursor"
            ) from None
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
        if lenient:
            return
        raise FhirError.of(
            400, error_codes.UNSUPPORTED_SEARCH_FEATURE, "_sort is not supported yet", "_sort"
        )


def _modifier_ok(param: SearchParameterDef, modifier: str | None) -> bool:
    if param.code == "_id":
        return modifier in {None, "not"}
    if param.code == "_lastUpdated":
        return modifier is None
    if param.type == "reference" and modifier and modifier[:1].isupper():
        return definitions.is_resource_type(modifier) and (
            not param.targets or modifier in param.targets
        )
    return modifier in MODIFIERS.get(param.type, frozenset())


def _include_param(request: SearchRequest, name: str, raw: str, lenient: bool) -> None:
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
            param = registry.parameters_for(source).get(code)
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
