"""History at instance, type and system level: ``_since``, ``_at``, ``_count``, paging."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection

from platform_core.fhir import error_codes, jsonio
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import date_range
from platform_core.fhir.interactions.common import Env, Route, check_id
from platform_core.fhir.request import FhirRequest, FhirResponse


def history(env: Env, request: FhirRequest, route: Route, conn: Connection | None) -> FhirResponse:
    """A history Bundle, newest version first."""
    if route.resource_id:
        check_id(route.resource_id)
    settings = env.repository.settings
    since = at = None
    kept: list[tuple[str, str]] = []
    raw_since = request.param("_since")
    if raw_since is not None:
        rng = date_range(raw_since)
        if rng is None or ("T" in raw_since and not _has_zone(raw_since)):
            raise FhirError.of(
                400,
                error_codes.INVALID_PARAMETER,
                f"_since must be an instant with a time zone, got {raw_since!r}",
                "_since",
            )
        since = rng[0]
        kept.append(("_since", raw_since))
    raw_at = request.param("_at")
    if raw_at is not None:
        at = date_range(raw_at)
        if at is None:
            raise FhirError.of(
                400,
                error_codes.INVALID_PARAMETER,
                f"_at must be a date, dateTime or instant, got {raw_at!r}",
                "_at",
            )
        kept.append(("_at", raw_at))
    count = settings.default_page_size
    raw_count = request.param("_count")
    if raw_count is not None:
        if not raw_count.isdigit():
            raise FhirError.of(
                400,
                error_codes.INVALID_PARAMETER,
                "_count must be a non-negative integer",
                "_count",
            )
        count = min(int(raw_count), settings.max_page_size)
        kept.append(("_count", str(count)))
    cursor = request.param("_cursor")
    entries, next_cursor = env.repository.history(
        env.ctx,
        route.resource_type,
        route.resource_id,
        since=since,
        at=at,
        count=count,
        cursor=cursor,
    )
    path = "/".join(p for p in (route.resource_type, route.resource_id) if p) + "/_history"
    path = path.lstrip("/")
    links = [{"relation": "self", "url": _url(env, path, kept + _cur(cursor))}]
    if next_cursor:
        links.append(
            {"relation": "next", "url": _url(env, path, [*kept, ("_cursor", next_cursor)])}
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "link": links}
    if entries:
        bundle["entry"] = [_entry(env, e) for e in entries]
    return FhirResponse(200, resource=bundle)


def _entry(env: Env, stored: Any) -> dict[str, Any]:
    url = f"{env.base_url}/{stored.reference}"
    method = stored.method or "PUT"
    entry: dict[str, Any] = {"fullUrl": url}
    if stored.content is not None:
        entry["resource"] = jsonio.orjson.Fragment(stored.content)
    status = "201 Created" if stored.version_id == 1 and method == "POST" else "200 OK"
    if stored.deleted:
        status = "204 No Content"
        method = "DELETE"
    req_url = stored.resource_type if method == "POST" else stored.reference
    entry["request"] = {"method": method, "url": req_url}
    entry["response"] = {
        "status": status,
        "etag": stored.etag,
        "lastModified": stored.last_updated_instant,
    }
    return entry


def _cur(cursor: str | None) -> list[tuple[str, str]]:
    return [("_cursor", cursor)] if cursor else []


def _url(env: Env, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{env.base_url}/{path}" + (f"?{query}" if query else "")


def _has_zone(text: str) -> bool:
    return text.endswith("Z") or "+" in text[10:] or "-" in text[10:]
