"""The ``/fhir`` blueprint: HTTP <-> :class:`FhirRequest` / :class:`FhirResponse`.

It owns only what is about HTTP itself: the body size limit, response format negotiation
(``_format``, ``Accept``, ``_pretty``), and the response's content type. Everything else is the
engine's.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from platform_core.fhir import error_codes
from platform_core.fhir.context import RequestContext
from platform_core.fhir.engine import error_response
from platform_core.fhir.errors import FhirError
from platform_core.fhir.request import FhirRequest, FhirResponse

bp = Blueprint("fhir", __name__)

FHIR_CONTENT_TYPE = "application/fhir+json; charset=utf-8"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
JSON_FORMATS = frozenset(
    {"json", "application/json", "application/fhir+json", "application/json+fhir"}
)


@bp.route("/fhir", defaults={"path": ""}, methods=METHODS, strict_slashes=False)
@bp.route("/fhir/<path:path>", methods=METHODS)
def fhir_endpoint(path: str) -> Response:
    """Every FHIR interaction."""
    core = current_app.extensions["fireside"]
    try:
        _negotiate()
        body = _read_body(core.settings.max_body_bytes)
    except FhirError as exc:
        return _to_http(error_response(exc), head=False)
    fhir_request = FhirRequest(
        method=request.method,
        path=path,
        params=list(request.args.items(multi=True)),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    response = core.fhir.handle(fhir_request, _context())
    return _to_http(response, head=request.method == "HEAD")


def _context() -> RequestContext:
    # Authorization (SMART tokens) replaces this with the caller's own context.
    return RequestContext(
        remote_addr=request.remote_addr, request_id=request.headers.get("X-Request-Id")
    )


def _negotiate() -> None:
    fmt = request.args.get("_format")
    if fmt is not None:
        if fmt.split(";", 1)[0].strip().lower() not in JSON_FORMATS:
            raise FhirError.of(
                406,
                error_codes.NOT_ACCEPTABLE,
                f"_format={fmt!r} is not supported; this server speaks JSON only",
                "_format",
            )
        return
    accept = request.headers.get("Accept")
    if accept:
        kinds = [a.split(";", 1)[0].strip().lower() for a in accept.split(",")]
        if not any("json" in k or k in {"*/*", "application/*"} for k in kinds):
            raise FhirError.of(
                406,
                error_codes.NOT_ACCEPTABLE,
                f"Accept: {accept} cannot be served; this server speaks application/fhir+json",
            )


def _read_body(limit: int) -> bytes | None:
    if request.method not in {"POST", "PUT", "PATCH"}:
        return None
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    return data


def _too_large(limit: int) -> FhirError:
    return FhirError.of(
        413, error_codes.BODY_TOO_LARGE, f"The request body is larger than {limit} bytes"
    )


def _to_http(response: FhirResponse, *, head: bool) -> Response:
    pretty = request.args.get("_pretty") == "true"
    body = b"" if head or response.status == 304 else response.body_bytes(pretty=pretty)
    out = Response(body, status=response.status, headers=response.headers)
    if response.has_body():
        out.headers["Content-Type"] = FHIR_CONTENT_TYPE
    return out
