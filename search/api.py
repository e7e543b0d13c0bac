"""``GET /api/search``: the global search box.

Thin view: parse and check the parameters, work out who is asking, ask the search service,
render. Callers without a token find public documents; a token opens the private documents
its holder may read (:mod:`search.visibility`). Errors are problem+json naming the
parameter: ``errors`` maps ``query`` -> parameter -> messages, like webargs' own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import Response, current_app, jsonify, request
from marshmallow import fields, validate

from platform_core.fhir.context import RequestContext
from platform_core.web.api import ApiBlueprint, Problem, caller
from search.backend import MAX_PAGE_SIZE, MAX_WINDOW, SearchQuery, SearchUnavailable, Visibility
from search.service import service_of

MAX_QUERY_CHARS = 1_000
"""Longest ``q`` accepted."""
PATH = "/api/search"


class SearchArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    q = fields.String(
        required=True,
        metadata={
            "description": "What to look for: words (the last one also as a prefix), "
            '"quoted phrases", -excluded words. Typos are tolerated.'
        },
    )
    types = fields.String(
        load_default=None,
        metadata={"description": "Comma-separated document kinds (patient, medication...)"},
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class HitSchema(ma.Schema):
    kind = fields.String(required=True)
    id = fields.String(required=True)
    title = fields.String(required=True)
    url = fields.String(allow_none=True)
    score = fields.Float(required=True)
    highlights = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "title/body -> HTML fragments, matches in <mark>"},
    )
    fields_ = fields.Dict(data_key="fields", metadata={"description": "Extra values of the hit"})


class LinksSchema(ma.Schema):
    self_ = fields.String(data_key="self", required=True)
    next = fields.String(allow_none=True)
    prev = fields.String(allow_none=True)


class ResultSchema(ma.Schema):
    query = fields.String(required=True)
    total = fields.Integer(required=True)
    total_exact = fields.Boolean(
        required=True, metadata={"description": "false: total is a lower bound"}
    )
    page = fields.Integer(required=True)
    size = fields.Integer(required=True)
    hits = fields.List(fields.Nested(HitSchema), required=True)
    facets = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Integer()),
        metadata={"description": '{"kind": {kind: matches}}, before the types filter'},
    )
    links = fields.Nested(LinksSchema, required=True)


def _bad(parameter: str, message: str) -> Problem:
    return Problem(400, f"{parameter}: {message}", errors={"query": {parameter: [message]}})


def _caller() -> RequestContext | None:
    """The caller, or None for an anonymous one (a bad token is still a 401)."""
    core = current_app.extensions["fireside"]
    if core.settings.auth_required and not request.headers.get("Authorization"):
        return None
    return caller()


def _link(q: str, types: str | None, page: int, size: int) -> str:
    params: dict[str, Any] = {"q": q, "page": page, "size": size}
    if types:
        params["types"] = types
    return f"{PATH}?{urlencode(params)}"


def _kinds(raw: str | None, known: set[str]) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    kinds = frozenset(k.strip() for k in raw.split(",") if k.strip())
    unknown = sorted(kinds - known)
    if unknown:
        raise _bad("types", f"unknown type {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return kinds


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    blp = ApiBlueprint(
        "global_search",
        __name__,
        url_prefix="/api",
        description="Global search (docs/global_search.md)",
    )

    @blp.route("/search")
    @blp.arguments(SearchArgs, location="query", error_status_code=400)
    # Documented with the schema, rendered without it: marshmallow's dump of twenty hits
    # cost about as much as the highlighting.
    @blp.alt_response(200, schema=ResultSchema, success=True, description="Ranked hits")
    @blp.alt_response(400, description="Bad parameter (problem+json naming it)")
    @blp.alt_response(401, description="The bearer token is not valid")
    @blp.alt_response(503, description="The search backend cannot be reached")
    def search(args: dict[str, Any]) -> Response:
        """Search patients, practitioners, medications and plugin content at once."""
        service = service_of(current_app.extensions["fireside"])
        q: str = args["q"]
        if not q.strip():
            raise _bad("q", "must not be empty")
        if len(q) > MAX_QUERY_CHARS:
            raise _bad("q", f"is {len(q)} characters long; at most {MAX_QUERY_CHARS} are searched")
        page, size = args["page"], args["size"]
        if page * size > MAX_WINDOW:
            raise _bad("page", f"page * size may not exceed {MAX_WINDOW}; refine the search")
        kinds = _kinds(args["types"], set(service.sources))
        ctx = _caller()
        query = SearchQuery(q, Visibility(), kinds, page, size)
        try:
            result = service.search(ctx, query)
        except SearchUnavailable as exc:
            raise Problem(503, f"The search backend is unavailable: {exc}") from None
        has_next = page * size < MAX_WINDOW and (
            result.total > page * size or not result.total_exact
        )
        return jsonify(
            {
                "query": q,
                "total": result.total,
                "total_exact": result.total_exact,
                "page": page,
                "size": size,
                "hits": [
                    {
                        "kind": h.kind,
                        "id": h.id,
                        "title": h.title,
                        "url": h.url,
                        "score": h.score,
                        "highlights": h.highlights,
                        "fields": h.fields,
                    }
                    for h in result.hits
                ],
                "facets": {"kind": result.facets},
                "links": {
                    "self": _link(q, args["types"], page, size),
                    "next": _link(q, args["types"], page + 1, size) if has_next else None,
                    "prev": _link(q, args["types"], page - 1, size) if page > 1 else None,
                },
            }
        )

    @blp.after_request
    def _private(response: Any) -> Any:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Vary"] = "Authorization"
        return response

    return blp
