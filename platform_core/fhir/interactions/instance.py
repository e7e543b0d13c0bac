"""Instance-level interactions: read, vread, update, patch, delete (and their conditional
forms, which find the instance by search first)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from platform_core.fhir import error_codes, representation
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import parse_http_date
from platform_core.fhir.interactions.common import (
    Env,
    Route,
    body_resource,
    check_id,
    content_type,
    parse_if_match,
    require_resource,
    write_conn,
    write_response,
)
from platform_core.fhir.patch import apply_fhirpath_patch, apply_json_patch
from platform_core.fhir.request import FhirRequest, FhirResponse
from platform_core.fhir.storage.records import StoredResource

PATCH_TYPES = ("application/json-patch+json", "application/fhir+json", "application/json")


def read(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """GET [type]/[id], with conditional read (If-None-Match, If-Modified-Since)."""
    assert route.resource_type and route.resource_id
    check_id(route.resource_id)
    stored = env.repository.read(env.ctx, route.resource_type, route.resource_id, conn=conn)
    headers = stored.version_headers(env.base_url)
    del headers["Location"]
    if not_modified(request, stored):
        return FhirResponse(304, headers=headers)
    return represent(request, stored, headers)


def vread(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """GET [type]/[id]/_history/[vid]."""
    assert route.resource_type and route.resource_id and route.version_id
    check_id(route.resource_id)
    stored = env.repository.vread(env.ctx, route.resource_type, route.resource_id, route.version_id)
    headers = stored.version_headers(env.base_url)
    del headers["Location"]
    return represent(request, stored, headers)


def not_modified(request: FhirRequest, stored: StoredResource) -> bool:
    """True when the client's cached copy is current (answer 304)."""
    inm = request.header("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/").strip('"') for t in inm.split(",")}
        return str(stored.version_id) in tags or "*" in tags
    ims = request.header("if-modified-since")
    if ims is not None:
        since = parse_http_date(ims)
        return since is not None and stored.last_updated.replace(microsecond=0) <= since
    return False


def represent(
    request: FhirRequest, stored: StoredResource, headers: dict[str, str]
) -> FhirResponse:
    """The stored resource, subsetted by ``_summary`` / ``_elements`` when asked."""
    summary = request.param("_summary")
    elements = request.param_values("_elements")
    if summary is None and not elements:
        return FhirResponse(200, raw=stored.content, headers=headers)
    resource = stored.resource()
    if summary is not None and summary != "false":
        resource = representation.apply_summary(resource, summary)
    elif elements:
        names = representation.parse_elements_param(elements)
        resource = representation.apply_elements(resource, names)
    return FhirResponse(200, resource=resource, headers=headers)


def update(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """PUT [type]/[id]: a new version, or update-as-create with the client's id."""
    assert route.resource_type and route.resource_id
    check_id(route.resource_id)
    resource = require_resource(body_resource(request), route.resource_type, route.resource_id)
    if_match = parse_if_match(request)
    with write_conn(env, conn) as c:
        result = env.repository.update(
            env.ctx, c, route.resource_type, route.resource_id, resource, if_match=if_match
        )
    return write_response(request, env, result.stored, 201 if result.created else 200)


def conditional_update(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None
) -> FhirResponse:
    """PUT [type]?[search]: update the one match, or create when nothing matches."""
    assert route.resource_type
    resource = require_resource(body_resource(request), route.resource_type)
    condition = route.extra["query"]
    with write_conn(env, conn) as c:
        target = env.repository.find_one(env.ctx, route.resource_type, condition, conn=c)
        body_id = resource.get("id")
        if target is not None:
            if body_id is not None and body_id != target.id:
                raise FhirError.of(
                    400,
                    error_codes.ID_MISMATCH,
                    f"The body id {body_id!r} differs from the matched {target.reference}",
                    f"{route.resource_type}.id",
                )
            result = env.repository.update(
                env.ctx,
                c,
                route.resource_type,
                target.id,
                {**resource, "id": target.id},
                if_match=parse_if_match(request),
            )
            return write_response(request, env, result.stored, 201 if result.created else 200)
        if body_id is not None:
            check_id(body_id)
            result = env.repository.update(env.ctx, c, route.resource_type, body_id, resource)
            return write_response(request, env, result.stored, 201)
        created = env.repository.conditional_create(env.ctx, c, resource, condition)
    return write_response(request, env, created.stored, 201 if created.created else 200)


def patch(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """PATCH [type]/[id] with a JSON Patch or a FHIRPath Patch (Parameters) body."""
    assert route.resource_type and route.resource_id
    check_id(route.resource_id)
    document = body_resource(request, allowed=PATCH_TYPES)
    if_match = parse_if_match(request)
    with write_conn(env, conn) as c:
        current = env.repository.read_for_update(env.ctx, c, route.resource_type, route.resource_id)
        if if_match is not None and if_match != current.version_id:
            raise FhirError.of(
                412,
                error_codes.PRECONDITION_FAILED,
                f"If-Match expects version {if_match} but the server has {current.version_id}",
            )
        patched = _apply_patch(request, current.resource(), document)
        if patched.get("resourceType") != route.resource_type or patched.get("id") != (
            route.resource_id
        ):
            raise FhirError.of(
                422,
                error_codes.PATCH_FAILED,
                "A patch may not change resourceType or id",
            )
        result = env.repository.update(
            env.ctx,
            c,
            route.resource_type,
            route.resource_id,
            patched,
            if_match=current.version_id,
            method="PATCH",
        )
    return write_response(request, env, result.stored, 200)


def _apply_patch(request: FhirRequest, resource: dict[str, Any], document: Any) -> dict[str, Any]:
    ctype = content_type(request)
    if request.resource is not None:
        # Inside a Bundle: a Binary carries a JSON Patch; a Parameters is a FHIRPath Patch.
        if isinstance(document, dict) and document.get("resourceType") == "Parameters":
            return apply_fhirpath_patch(resource, document)
        return apply_json_patch(resource, document)
    if ctype == "application/json-patch+json":
        return apply_json_patch(resource, document)
    if isinstance(document, dict) and document.get("resourceType") == "Parameters":
        return apply_fhirpath_patch(resource, document)
    raise FhirError.of(
        415,
        error_codes.UNSUPPORTED_MEDIA_TYPE,
        "PATCH takes application/json-patch+json (JSON Patch) or a Parameters resource "
        "(FHIRPath Patch) as application/fhir+json",
    )


def delete(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """DELETE [type]/[id]: soft delete; a later read answers 410 Gone."""
    assert route.resource_type and route.resource_id
    check_id(route.resource_id)
    with write_conn(env, conn) as c:
        stored = env.repository.delete(
            env.ctx, c, route.resource_type, route.resource_id, if_match=parse_if_match(request)
        )
    return FhirResponse(204, headers={"ETag": stored.etag})


def conditional_delete(
    env: Env, request: FhirRequest, route: Route, conn: Connection | None
) -> FhirResponse:
    """DELETE [type]?[search]: delete the one match (none: 204; several: 412)."""
    assert route.resource_type
    condition = route.extra["query"]
    with write_conn(env, conn) as c:
        target = env.repository.find_one(env.ctx, route.resource_type, condition, conn=c)
        if target is None:
            return FhirResponse(204)
        stored = env.repository.delete(env.ctx, c, route.resource_type, target.id)
    return FhirResponse(204, headers={"ETag": stored.etag})
