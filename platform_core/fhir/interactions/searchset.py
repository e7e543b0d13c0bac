"""Searchset Bundles: the answer of every search (type, compartment, ``$everything``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection

from platform_core.fhir import error_codes, jsonio, representation
from platform_core.fhir.errors import FhirError
from platform_core.fhir.interactions.common import Env
from platform_core.fhir.request import FhirResponse
from platform_core.fhir.search.model import SearchRequest
from platform_core.fhir.storage.records import StoredResource

SUMMARY_MODES = frozenset({"true", "false", "text", "data", "count"})


def searchset_response(
    env: Env, parsed: SearchRequest, path: str, conn: Connection | None
) -> FhirResponse:
    """Run ``parsed`` and answer with a searchset Bundle whose links point at ``path``."""
    if parsed.summary is not None and parsed.summary not in SUMMARY_MODES:
        raise FhirError.of(
            400,
            error_codes.INVALID_SEARCH_VALUE,
            "_summary must be true, text, data, count or false",
            "_summary",
        )
    page = env.repository.search(env.ctx, parsed, conn=conn)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    first = link(env, path, parsed.self_params)
    links = [
        {"relation": "self", "url": at_cursor(first, parsed.cursor)},
        {"relation": "first", "url": first},
    ]
    if page.previous_cursor is not None:
        links.append({"relation": "previous", "url": at_cursor(first, page.previous_cursor)})
    if page.next_cursor is not None:
        links.append({"relation": "next", "url": at_cursor(first, page.next_cursor)})
    bundle["link"] = links
    if parsed.summary == "count":
        return FhirResponse(200, resource=bundle)
    entries = [_entry(env, stored, parsed, "match") for stored in page.matches]
    entries += [_entry(env, stored, parsed, "include") for stored in page.included]
    if entries:
        bundle["entry"] = entries
    return FhirResponse(200, resource=bundle)


def _entry(env: Env, stored: StoredResource, parsed: SearchRequest, mode: str) -> dict[str, Any]:
    resource: Any
    if mode == "match" and parsed.summary not in (None, "false"):
        resource = representation.apply_summary(stored.resource(), parsed.summary)
    elif mode == "match" and parsed.elements:
        names = representation.parse_elements_param(parsed.elements)
        resource = representation.apply_elements(stored.resource(), names)
    else:
        # Stored JSON goes into the Bundle as it is: no parse, no re-serialisation.
        resource = jsonio.orjson.Fragment(stored.content)
    return {
        "fullUrl": f"{env.base_url}/{stored.reference}",
        "resource": resource,
        "search": {"mode": mode},
    }


def link(env: Env, path: str, params: list[tuple[str, str]]) -> str:
    """An absolute link to ``path`` with ``params``."""
    query = urlencode(params)
    return f"{env.base_url}/{path}".rstrip("/") + (f"?{query}" if query else "")


def at_cursor(url: str, cursor: str | None) -> str:
    """``url`` (a :func:`link`) with the paging cursor ``cursor`` added last (the page's
    other links differ from the first page's only there: one encoding serves them all)."""
    if cursor is None:
        return url
    return url + ("&" if "?" in url else "?") + urlencode([("_cursor", cursor)])
