"""Operations: ``$validate`` at type and instance level (FHIR R4 resource-operation-validate)
and ``SearchParameter/[id]/$index-status`` (progress of a custom parameter's reindex)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError, operation_outcome
from platform_core.fhir.interactions.common import Env, Route, body_resource, check_id
from platform_core.fhir.request import FhirRequest, FhirResponse
from platform_core.fhir.search import custom

VALIDATE_MODES = frozenset({"create", "update", "delete"})


def validate(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """Validate a resource (given directly or in a ``Parameters`` body); 200 with the
    OperationOutcome when it is valid, 400 with it when it is not."""
    assert route.resource_type
    if route.resource_id:
        check_id(route.resource_id)
    body = body_resource(request)
    resource: Any = body
    mode = request.param("mode")
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        resource = None
        for param in body.get("parameter", []):
            if param.get("name") == "resource":
                resource = param.get("resource")
            elif param.get("name") == "mode":
                mode = param.get("valueCode", mode)
        if resource is None and mode != "delete":
            raise FhirError.of(
                400,
                error_codes.INVALID_PARAMETER,
                "$validate with Parameters needs a 'resource' parameter",
                "Parameters.parameter",
            )
    if mode is not None and mode not in VALIDATE_MODES:
        raise FhirError.of(
            400, error_codes.INVALID_PARAMETER, "mode must be create, update or delete", "mode"
        )
    if mode == "delete":
        env.repository.read(env.ctx, route.resource_type, route.resource_id or "", conn=conn)
        return FhirResponse(200, resource=operation_outcome([]))
    if not isinstance(resource, dict):
        raise FhirError.of(400, error_codes.INVALID_RESOURCE, "The body must be a resource")
    issues = env.repository.validate(resource, expect_type=route.resource_type)
    if route.resource_id and resource.get("id") not in (None, route.resource_id):
        raise FhirError.of(
            400,
            error_codes.ID_MISMATCH,
            f"The resource id {resource.get('id')!r} differs from {route.resource_id!r}",
        )
    # The operation succeeded either way; the outcome says whether the resource is valid.
    return FhirResponse(200, resource=operation_outcome(issues))


def index_status(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None
) -> FhirResponse:
    """``GET SearchParameter/[id]/$index-status``: a Parameters resource with ``status``
    (``reindexing``, ``active``, ``failed``, ``retired``), ``processed`` and ``total``."""
    assert route.resource_type and route.resource_id
    if route.resource_type != "SearchParameter":
        raise FhirError.of(
            404, error_codes.UNKNOWN_OPERATION, "$index-status is an operation of SearchParameter"
        )
    check_id(route.resource_id)
    env.repository.read(env.ctx, "SearchParameter", route.resource_id, conn=conn)
    with env.repository.engine.connect() as c:
        state = custom.state(c, route.resource_id)
    if state is None:
        raise FhirError.of(
            404, error_codes.NOT_FOUND, f"SearchParameter/{route.resource_id} has no index"
        )
    parameters = [
        {"name": "status", "valueCode": state["status"]},
        {"name": "processed", "valueInteger": state["processed"]},
        {"name": "total", "valueInteger": state["total"]},
    ]
    if state["error"]:
        parameters.append({"name": "error", "valueString": state["error"]})
    return FhirResponse(200, resource={"resourceType": "Parameters", "parameter": parameters})
