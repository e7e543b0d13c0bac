"""Compartment search (``GET Patient/123/Observation``, ``GET Encounter/7/*``; the five R4
compartments) and ``Patient/$everything``."""

from __future__ import annotations

from sqlalchemy import Connection

from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import date_range
from platform_core.fhir.interactions.common import Env, Route, check_id, check_type, prefer
from platform_core.fhir.interactions.searchset import searchset_response
from platform_core.fhir.request import FhirRequest, FhirResponse
from platform_core.fhir.search.compartment import SUPPORTED_COMPARTMENTS, member_types, members
from platform_core.fhir.search.model import Include


def _check_compartment(
    route: Route,
    supported: frozenset[str] = SUPPORTED_COMPARTMENTS,
    what: str = "Compartment search",
) -> tuple[str, str]:
    assert route.resource_type and route.resource_id
    if route.resource_type not in supported:
        raise FhirError.of(
            400,
            error_codes.UNSUPPORTED_SEARCH_FEATURE,
            f"{what} is supported for {', '.join(sorted(supported))}, not {route.resource_type}",
        )
    check_id(route.resource_id)
    return route.resource_type, route.resource_id


def compartment_search(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None
) -> FhirResponse:
    """``GET [Compartment]/[id]/[type]`` or ``.../*``: a search inside the compartment."""
    compartment, owner = _check_compartment(route)
    target = route.extra["target"]
    lenient = prefer(request, "handling") == "lenient"
    if target == "*":
        parsed = env.repository.parse_search("*", list(request.params), lenient=lenient)
        parsed.types = list(member_types(compartment))
    else:
        check_type(target)
        if target not in member_types(compartment):
            raise FhirError.of(
                400,
                error_codes.UNSUPPORTED_SEARCH_FEATURE,
                f"{target} is not in the {compartment} compartment",
            )
        parsed = env.repository.parse_search(target, list(request.params), lenient=lenient)
    parsed.compartment = (compartment, owner)
    return searchset_response(env, parsed, f"{compartment}/{owner}/{target}", conn)


EVERYTHING_COMPARTMENTS = frozenset({"Patient"})
"""``$everything`` is an R4 operation of Patient (Encounter's came with R5)."""


def everything(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None
) -> FhirResponse:
    """``GET Patient/[id]/$everything``: the patient, everything in their compartment, and the
    resources those refer to; ``_since``, ``_type``, ``_count`` and paging."""
    compartment, owner = _check_compartment(route, EVERYTHING_COMPARTMENTS, "$everything")
    env.repository.read(env.ctx, compartment, owner, conn=conn)  # 404 / 410 first
    passthrough = [(k, v) for k, v in request.params if k in {"_count", "_cursor"}]
    parsed = env.repository.parse_search("*", passthrough)
    types = sorted(members())
    raw_types = request.param("_type")
    if raw_types:
        wanted = [t.strip() for t in raw_types.split(",") if t.strip()]
        for t in wanted:
            check_type(t)
        types = [t for t in types if t in wanted]
        parsed.include_types = wanted
        parsed.self_params.append(("_type", raw_types))
    raw_since = request.param("_since")
    if raw_since:
        rng = date_range(raw_since)
        if rng is None:
            raise FhirError.of(
                400,
                error_codes.INVALID_PARAMETER,
                f"_since={raw_since!r} is not an instant",
                "_since",
            )
        parsed.since = rng[0]
        parsed.self_params.append(("_since", raw_since))
    parsed.types = types
    parsed.compartment = (compartment, owner)
    parsed.includes = [Include(False, "*", "*", None, False)]
    return searchset_response(env, parsed, f"{compartment}/{owner}/$everything", conn)
