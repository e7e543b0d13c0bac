"""Type-level interactions: create (plain and conditional) and search."""

from __future__ import annotations

from urllib.parse import parse_qsl

from sqlalchemy import Connection

from platform_core.fhir import definitions, error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.interactions.common import (
    Env,
    Route,
    body_resource,
    check_type,
    content_type,
    prefer,
    require_resource,
    write_conn,
    write_response,
)
from platform_core.fhir.interactions.searchset import searchset_response
from platform_core.fhir.request import FhirRequest, FhirResponse


def create(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """POST [type]; with ``If-None-Exist`` a conditional create (200 when a match exists)."""
    assert route.resource_type
    resource = require_resource(body_resource(request), route.resource_type)
    resource = {k: v for k, v in resource.items() if k != "id"}  # R4: the server ignores it
    condition = request.header("if-none-exist")
    with write_conn(env, conn) as c:
        if condition:
            result = env.repository.conditional_create(
                env.ctx, c, resource, condition.split("?", 1)[-1], resource_id=request.assigned_id
            )
            return write_response(request, env, result.stored, 201 if result.created else 200)
        stored = env.repository.create(env.ctx, c, resource, resource_id=request.assigned_id)
    return write_response(request, env, stored, 201)


def search(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """GET [type]?... and POST [type]/_search (form body): a searchset Bundle."""
    assert route.resource_type
    params = list(request.params)
    if request.method == "POST" and request.body:
        if content_type(request) != "application/x-www-form-urlencoded":
            raise FhirError.of(
                415,
                error_codes.UNSUPPORTED_MEDIA_TYPE,
                "POST _search takes application/x-www-form-urlencoded",
            )
        params += parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    lenient = prefer(request, "handling") == "lenient"
    parsed = env.repository.parse_search(route.resource_type, params, lenient=lenient)
    if parsed.summary is not None and parsed.summary not in {
        "true",
        "false",
        "text",
        "data",
        "count",
    }:
        raise FhirError.of(
            400,
            error_codes.INVALID_SEARCH_VALUE,
            "_summary must be true, text, data, count or false",
            "_summary",
        )
    return searchset_response(env, parsed, route.resource_type, conn)


def system_search(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None
) -> FhirResponse:
    """``GET [base]?_type=A,B&...``: search across resource types (every type without
    ``_type``); only the parameters common to all resources (``_id``, ``_lastUpdated``)."""
    lenient = prefer(request, "handling") == "lenient"
    params = [(k, v) for k, v in request.params if k != "_type"]
    parsed = env.repository.parse_search("*", params, lenient=lenient)
    raw_types = request.param("_type")
    if raw_types:
        wanted = [t.strip() for t in raw_types.split(",") if t.strip()]
        for name in wanted:
            check_type(name)
        parsed.types = wanted
        parsed.self_params.insert(0, ("_type", raw_types))
    else:
        parsed.types = sorted(definitions.resource_types())
    return searchset_response(env, parsed, "", conn)
