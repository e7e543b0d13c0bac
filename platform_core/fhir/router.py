"""The FHIR route table and dispatcher, readable in one place.

``dispatch`` maps a :class:`FhirRequest` to its handler by method and path shape; it is used
for HTTP requests and for the entries of batch and transaction Bundles alike.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from platform_core.fhir import error_codes
from platform_core.fhir.bundles.batch import process_batch
from platform_core.fhir.bundles.transaction import process_transaction
from platform_core.fhir.capability import capability_statement
from platform_core.fhir.errors import FhirError
from platform_core.fhir.interactions import compartment, history, instance, type_level
from platform_core.fhir.interactions.common import (
    Env,
    Route,
    body_resource,
    check_id,
    check_type,
)
from platform_core.fhir.operations import index_status, validate
from platform_core.fhir.request import FhirRequest, FhirResponse

Handler = Callable[[Env, FhirRequest, Route, Connection | None], FhirResponse]


def _metadata(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None
) -> FhirResponse:
    statement = capability_statement(env.repository.settings, env.repository.registry())
    if env.operations is not None:
        statement = env.operations.prepare_capability(statement)
    return FhirResponse(200, resource=statement)


def _bundle(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    if conn is not None:
        raise FhirError.of(
            400,
            error_codes.INVALID_BUNDLE,
            "A Bundle entry may not post another batch or transaction",
        )
    body = body_resource(request)
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise FhirError.of(
            400,
            error_codes.INVALID_BUNDLE,
            "POST to the FHIR base takes a Bundle of type batch or transaction",
        )
    kind = body.get("type")
    if kind == "transaction":
        return process_transaction(env, request, body)
    if kind == "batch":
        return process_batch(env, request, body)
    raise FhirError.of(
        400,
        error_codes.INVALID_BUNDLE,
        f"Bundle.type must be batch or transaction to be processed, not {kind!r}",
        "Bundle.type",
    )


# (method, shape) -> handler. Shapes: "" base, "T" type, "T/I" instance, "T/I/_history/V"...
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "metadata"): _metadata,
    ("POST", ""): _bundle,
    ("GET", ""): type_level.system_search,
    ("GET", "_history"): history.history,
    ("GET", "T"): type_level.search,
    ("POST", "T/_search"): type_level.search,
    ("POST", "T"): type_level.create,
    ("PUT", "T?"): instance.conditional_update,
    ("DELETE", "T?"): instance.conditional_delete,
    ("GET", "T/_history"): history.history,
    ("POST", "T/$validate"): validate,
    ("GET", "T/I"): instance.read,
    ("PUT", "T/I"): instance.update,
    ("PATCH", "T/I"): instance.patch,
    ("DELETE", "T/I"): instance.delete,
    ("GET", "T/I/_history"): history.history,
    ("GET", "T/I/_history/V"): instance.vread,
    ("GET", "T/I/C"): compartment.compartment_search,
    ("GET", "T/I/$index-status"): index_status,
    ("GET", "T/I/$everything"): compartment.everything,
    ("POST", "T/I/$validate"): validate,
}


def _shape(request: FhirRequest) -> tuple[str, Route]:
    segs = request.segments
    route = Route()
    if not segs:
        return "", route
    if segs[0] in {"metadata", "_history"} and len(segs) == 1:
        return segs[0], route
    if segs[0].startswith("$") and len(segs) == 1:
        route.operation = segs[0]
        return "$", route
    route.resource_type = segs[0]
    rest = segs[1:]
    if not rest:
        if request.method in {"PUT", "DELETE", "PATCH"}:
            query = "&".join(f"{k}={v}" for k, v in request.params)
            if not query:
                raise FhirError.of(
                    400,
                    error_codes.CONDITION_REQUIRED,
                    f"{request.method} on a type needs search criteria (a conditional "
                    f"{request.method.lower()})",
                )
            route.extra["query"] = query
            return "T?", route
        return "T", route
    if rest[0] in {"_search", "_history"} and len(rest) == 1:
        return f"T/{rest[0]}", route
    if rest[0].startswith("$") and len(rest) == 1:
        route.operation = rest[0]
        return f"T/{rest[0]}", route
    route.resource_id = rest[0]
    if len(rest) == 1:
        return "T/I", route
    if rest[1] == "_history":
        if len(rest) == 2:
            return "T/I/_history", route
        if len(rest) == 3:
            route.version_id = rest[2]
            return "T/I/_history/V", route
    if rest[1].startswith("$") and len(rest) == 2:
        route.operation = rest[1]
        return f"T/I/{rest[1]}", route
    if len(rest) == 2 and (rest[1] == "*" or rest[1][:1].isupper()):
        route.extra["target"] = rest[1]
        return "T/I/C", route
    return "?", route


def _plugin_operation(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None, method: str
) -> FhirResponse | None:
    """A plugin's ``$operation`` at this route, if one is registered there."""
    if method not in {"GET", "POST"}:
        return None
    assert route.operation
    level = (
        "system"
        if route.resource_type is None
        else "type"
        if route.resource_id is None
        else "instance"
    )
    op = env.operations.find(route.operation[1:], level, route.resource_type)
    if op is None:
        return None
    if route.resource_id is not None:
        check_id(route.resource_id)
    body = body_resource(request) if method == "POST" and request.body else None
    if body is not None and not isinstance(body, dict):
        raise FhirError.of(400, error_codes.INVALID_RESOURCE, "The body must be a resource")
    return env.operations.call(
        op, env, request, level, route.resource_type, route.resource_id, body, conn
    )


def dispatch(env: Env, request: FhirRequest, conn: Connection | None) -> FhirResponse:
    """Run one interaction; raises FhirError for failures."""
    method = "GET" if request.method == "HEAD" else request.method
    shape, route = _shape(request)
    if route.resource_type is not None and shape not in {"", "metadata", "_history"}:
        check_type(route.resource_type)
    handler = ROUTES.get((method, shape))
    if handler is None:
        if route.operation and env.operations is not None:
            answer = _plugin_operation(env, request, route, conn, method)
            if answer is not None:
                return answer
        if route.operation:
            raise FhirError.of(
                404, error_codes.UNKNOWN_OPERATION, f"Operation {route.operation} is not supported"
            )
        allowed = sorted(m for (m, s) in ROUTES if s == shape)
        if allowed:
            raise FhirError.of(
                405,
                error_codes.METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed on /{request.path}; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        raise FhirError.of(
            404, error_codes.UNKNOWN_ROUTE, f"No FHIR interaction at /{request.path}"
        )
    return handler(env, request, route, conn)
