"""``/fhir`` at the WSGI level: HTTP <-> :class:`FhirRequest` / :class:`FhirResponse`.

The FHIR API is served by this small WSGI adapter in front of the Flask app rather than by a
Flask view: the engine is transport-free and needs none of Flask's routing, request or
response objects, and skipping them saves about a third of the CPU of a read by id (measured
with ``bench/crud.py``; see docs/architecture.md). Every other path goes to Flask unchanged.

The adapter owns only what is about HTTP itself: the body size limit, response format
negotiation (``_format``, ``Accept``, ``_pretty``) and the response's content type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from platform_core.audit.rest import rest_record
from platform_core.fhir import error_codes
from platform_core.fhir.context import RequestContext
from platform_core.fhir.engine import error_response, unavailable_response
from platform_core.fhir.errors import FhirError
from platform_core.fhir.request import FhirRequest, FhirResponse

if TYPE_CHECKING:
    from platform_core.app import Core

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PREFIX = "/fhir"
PASS_THROUGH = frozenset({"/fhir/.well-known/smart-configuration"})
"""``/fhir`` paths Flask serves: SMART discovery belongs to the authorization server."""
FHIR_CONTENT_TYPE = "application/fhir+json; charset=utf-8"
JSON_FORMATS = frozenset(
    {"json", "application/json", "application/fhir+json", "application/json+fhir"}
)
_STATUS = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


class FhirWsgi:
    """Serves ``/fhir`` and passes every other request to ``app``."""

    def __init__(self, app: WsgiApp, core: Core) -> None:
        self.app = app
        self.core = core

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if (path != PREFIX and not path.startswith(PREFIX + "/")) or path in PASS_THROUGH:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "OPTIONS":
            return _preflight(start_response)
        params = parse_qsl(_wsgi_text(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        path = _wsgi_text(path)
        headers = _headers(environ)
        try:
            _negotiate(params, headers)
            body = _read_body(environ, method, self.core.settings.max_body_bytes)
        except FhirError as exc:
            return _respond(start_response, error_response(exc), params, head=False)
        request = FhirRequest(
            method=method,
            path=path[len(PREFIX) :].strip("/"),
            params=params,
            headers=headers,
            body=body,
        )
        ctx: RequestContext | None = None
        try:
            ctx = self._context(request, environ)
        except FhirError as exc:
            response = error_response(exc)
        except (OperationalError, PoolTimeout, DBAPIError):
            # Revocations and user facts could not be re-read: fail closed, as a 503.
            response = unavailable_response()
        else:
            response = self.core.fhir.handle(request, ctx)
        if request.path != "metadata":
            self.core.audit.record(
                rest_record(
                    request,
                    response.status,
                    ctx,
                    location=response.headers.get("Location"),
                    remote_addr=environ.get("REMOTE_ADDR"),
                )
            )
        return _respond(start_response, response, params, head=method == "HEAD")

    def _context(self, request: FhirRequest, environ: dict[str, Any]) -> RequestContext:
        """The caller: from its bearer token, or anonymous where no token is needed (the
        CapabilityStatement, or every call when ``auth_required`` is off)."""
        remote_addr = environ.get("REMOTE_ADDR")
        request_id = request.headers.get("x-request-id")
        if not self.core.settings.auth_required or (
            request.method in {"GET", "HEAD"} and request.path == "metadata"
        ):
            return RequestContext(
                actor="anonymous", remote_addr=remote_addr, request_id=request_id, internal=True
            )
        return self.core.auth.authenticator.context(
            request.headers.get("authorization"), remote_addr=remote_addr, request_id=request_id
        )


def _preflight(start_response: Callable[..., Any]) -> list[bytes]:
    """CORS preflight: browser SMART apps call the FHIR API from other origins with a bearer
    token (never cookies), so any origin may."""
    start_response(
        "204 No Content",
        [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
            (
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type, Accept, If-Match, If-None-Match, "
                "If-None-Exist, If-Modified-Since, Prefer, X-Request-Id",
            ),
            ("Access-Control-Max-Age", "600"),
        ],
    )
    return []


def _wsgi_text(value: str) -> str:
    """WSGI strings carry raw bytes as latin-1 (PEP 3333); URLs are UTF-8."""
    if value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return headers


def _negotiate(params: list[tuple[str, str]], headers: dict[str, str]) -> None:
    fmt = next((v for k, v in reversed(params) if k == "_format"), None)
    if fmt is not None:
        if fmt.split(";", 1)[0].strip().lower() not in JSON_FORMATS:
            raise FhirError.of(
                406,
                error_codes.NOT_ACCEPTABLE,
                f"_format={fmt!r} is not supported; this server speaks JSON only",
                "_format",
            )
        return
    accept = headers.get("accept")
    if accept:
        kinds = [a.split(";", 1)[0].strip().lower() for a in accept.split(",")]
        if not any("json" in k or k in {"*/*", "application/*"} for k in kinds):
            raise FhirError.of(
                406,
                error_codes.NOT_ACCEPTABLE,
                f"Accept: {accept} cannot be served; this server speaks application/fhir+json",
            )


def _read_body(environ: dict[str, Any], method: str, limit: int) -> bytes | None:
    if method not in {"POST", "PUT", "PATCH"}:
        return None
    raw_length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            raise FhirError.of(
                400, error_codes.INVALID_HEADER, "Content-Length is not a number"
            ) from None
        if length > limit:
            raise _too_large(limit)
        return stream.read(length)
    if not environ.get("wsgi.input_terminated"):
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    return data


def _too_large(limit: int) -> FhirError:
    return FhirError.of(
        413, error_codes.BODY_TOO_LARGE, f"The request body is larger than {limit} bytes"
    )


def _respond(
    start_response: Callable[..., Any],
    response: FhirResponse,
    params: list[tuple[str, str]],
    *,
    head: bool,
) -> list[bytes]:
    pretty = any(k == "_pretty" and v == "true" for k, v in params)
    body = b"" if head or response.status == 304 else response.body_bytes(pretty=pretty)
    headers = list(response.headers.items())
    headers.append(("Access-Control-Allow-Origin", "*"))
    headers.append(
        (
            "Access-Control-Expose-Headers",
            "Location, ETag, Last-Modified, Content-Location, WWW-Authenticate",
        )
    )
    if response.has_body():
        headers.append(("Content-Type", FHIR_CONTENT_TYPE))
    if not head:
        headers.append(("Content-Length", str(len(body))))
    start_response(_STATUS.get(response.status, str(response.status)), headers)
    return [body]
