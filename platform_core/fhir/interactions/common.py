"""What the interaction handlers share: their environment, route matches and HTTP semantics
(``Prefer``, ``If-Match``, content types, response representations)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from platform_core.fhir import definitions, error_codes, jsonio
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError, informational_outcome
from platform_core.fhir.repository import Repository
from platform_core.fhir.request import FhirRequest, FhirResponse
from platform_core.fhir.storage.records import StoredResource

JSON_TYPES = ("application/fhir+json", "application/json")
ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


@dataclass
class Env:
    """Everything a handler may use for one request."""

    repository: Repository
    ctx: RequestContext
    operations: Any = None
    """The plugins' operations (``fhir.plugin_operations.PluginOperations``), if any."""

    @property
    def base_url(self) -> str:
        return self.repository.base_url


@dataclass
class Route:
    """The parts of the path a route matched."""

    resource_type: str | None = None
    resource_id: str | None = None
    version_id: str | None = None
    operation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def write_conn(env: Env, conn: Connection | None) -> Iterator[Connection]:
    """The caller's transaction, or a new one committed at the end of the block."""
    if conn is not None:
        yield conn
        return
    with env.repository.transaction() as own:
        yield own


def check_type(resource_type: str) -> None:
    """404 for a resource type R4 does not define."""
    if not definitions.is_resource_type(resource_type):
        raise FhirError.of(
            404,
            error_codes.UNKNOWN_RESOURCE_TYPE,
            f"{resource_type!r} is not a FHIR R4 resource type",
        )


def check_id(resource_id: str) -> None:
    """400 for an id outside ``[A-Za-z0-9\\-\\.]{1,64}``."""
    if not resource_id or len(resource_id) > 64 or not set(resource_id) <= ID_CHARS:
        raise FhirError.of(
            400,
            error_codes.INVALID_ID,
            f"{resource_id[:80]!r} is not a valid id: 1 to 64 of A-Z a-z 0-9 - .",
        )


def content_type(request: FhirRequest) -> str:
    """The media type of the body, lower-case, without parameters."""
    return (request.header("content-type") or "").split(";", 1)[0].strip().lower()


def body_resource(request: FhirRequest, *, allowed: tuple[str, ...] = JSON_TYPES) -> Any:
    """The parsed body, after checking it is there and of an accepted content type."""
    if request.resource is not None:
        return request.resource
    if not request.body:
        raise FhirError.of(400, error_codes.BODY_REQUIRED, "This interaction needs a body")
    ctype = content_type(request)
    if ctype not in allowed:
        raise FhirError.of(
            415,
            error_codes.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {ctype or '(none)'!r} is not accepted here; use " + " or ".join(allowed),
        )
    return jsonio.parse_json(request.body)


def require_resource(body: Any, resource_type: str, resource_id: str | None = None) -> dict:
    """Check the body is a resource of the URL's type (and id, for updates)."""
    if not isinstance(body, dict):
        raise FhirError.of(400, error_codes.INVALID_RESOURCE, "The body must be a JSON object")
    found = body.get("resourceType")
    if found is None:
        raise FhirError.of(
            400, error_codes.MISSING_RESOURCE_TYPE, "The body has no resourceType", "resourceType"
        )
    if found != resource_type:
        raise FhirError.of(
            400,
            error_codes.RESOURCE_TYPE_MISMATCH,
            f"The body is a {found!r} but the URL names {resource_type!r}",
            "resourceType",
        )
    if resource_id is not None:
        body_id = body.get("id")
        if body_id is None:
            raise FhirError.of(
                400, error_codes.ID_REQUIRED, "An update body must carry the id", f"{found}.id"
            )
        if body_id != resource_id:
            raise FhirError.of(
                400,
                error_codes.ID_MISMATCH,
                f"The body id {body_id!r} differs from the URL id {resource_id!r}",
                f"{found}.id",
            )
    return body


def parse_if_match(request: FhirRequest) -> int | None:
    """The version number in ``If-Match: W/"3"``; 400 if the header is malformed."""
    raw = request.header("if-match")
    if raw is None:
        return None
    text = raw.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise FhirError.of(
            400, error_codes.INVALID_HEADER, f'If-Match must look like W/"3", got {raw!r}'
        )
    return int(text)


def prefer(request: FhirRequest, key: str) -> str | None:
    """A token of the ``Prefer`` header, e.g. ``return`` or ``handling``."""
    raw = request.header("prefer") or ""
    for part in raw.split(","):
        name, _, value = part.split(";", 1)[0].strip().partition("=")
        if name.strip().lower() == key:
            return value.strip().strip('"').lower()
    return None


def write_response(
    request: FhirRequest,
    env: Env,
    stored: StoredResource,
    status: int,
    *,
    resource: dict[str, Any] | None = None,
) -> FhirResponse:
    """The answer to a create, update or patch, honouring ``Prefer: return=``."""
    headers = stored.version_headers(env.base_url)
    last = stored.last_updated_instant
    mode = prefer(request, "return") or "representation"
    if mode == "minimal":
        return FhirResponse(status, headers=headers, last_updated=last)
    if mode == "operationoutcome":
        verb = "Created" if status == 201 else "Updated"
        outcome = informational_outcome(f"{verb} {stored.reference} version {stored.version_id}")
        return FhirResponse(status, resource=outcome, headers=headers, last_updated=last)
    if resource is not None:
        return FhirResponse(status, resource=resource, headers=headers, last_updated=last)
    return FhirResponse(status, raw=stored.content, headers=headers, last_updated=last)
