"""Bundle entries -> engine requests, and engine responses -> response entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError, issue
from platform_core.fhir.request import FhirRequest, FhirResponse

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
TRANSACTION_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
"""Processing order of a transaction (FHIR R4 3.1.0.11.2)."""

STATUS_TEXT = {
    200: "200 OK",
    201: "201 Created",
    204: "204 No Content",
    304: "304 Not Modified",
    400: "400 Bad Request",
    404: "404 Not Found",
    409: "409 Conflict",
    410: "410 Gone",
    412: "412 Precondition Failed",
}


@dataclass
class Entry:
    """One parsed Bundle entry."""

    index: int
    method: str
    url: str
    full_url: str | None
    resource: Any
    headers: dict[str, str]

    @property
    def label(self) -> str:
        return f"Bundle.entry[{self.index}]"

    def describe(self) -> str:
        return f"entry {self.index} ({self.method} {self.url})"

    def to_request(self, url: str | None = None) -> FhirRequest:
        """The engine request this entry stands for."""
        parts = urlsplit(url or self.url)
        return FhirRequest(
            method=self.method,
            path=parts.path.strip("/"),
            params=parse_qsl(parts.query, keep_blank_values=True),
            headers=dict(self.headers),
            resource=self.resource,
        )


def parse_entries(bundle: dict[str, Any], base_url: str) -> list[Entry]:
    """Check the entries' shape and turn them into :class:`Entry` objects."""
    raw = bundle.get("entry", [])
    if not isinstance(raw, list):
        raise _invalid("Bundle.entry must be an array", "Bundle.entry")
    entries: list[Entry] = []
    seen_full_urls: set[str] = set()
    for i, item in enumerate(raw):
        where = f"Bundle.entry[{i}]"
        if not isinstance(item, dict):
            raise _invalid(f"{where} must be an object", where)
        req = item.get("request")
        if not isinstance(req, dict):
            raise _invalid(f"{where}.request is required in a batch or transaction", where)
        method = req.get("method")
        url = req.get("url")
        if method not in METHODS:
            raise _invalid(f"{where}.request.method must be one of {', '.join(METHODS)}", where)
        if not isinstance(url, str) or not url:
            raise _invalid(f"{where}.request.url is required", f"{where}.request.url")
        if url.startswith(base_url + "/"):
            url = url[len(base_url) + 1 :]
        resource = item.get("resource")
        if method in {"POST", "PUT"} and not isinstance(resource, dict):
            raise _invalid(f"{where}: {method} needs a resource", f"{where}.resource")
        if method == "PATCH" and resource is None:
            raise _invalid(f"{where}: PATCH needs a Binary or Parameters resource", where)
        full_url = item.get("fullUrl")
        if full_url is not None:
            if full_url in seen_full_urls:
                raise FhirError.of(
                    400,
                    error_codes.DUPLICATE_FULL_URL,
                    f"{where}.fullUrl {full_url!r} is used by an earlier entry",
                    f"{where}.fullUrl",
                )
            seen_full_urls.add(full_url)
        headers = {}
        for field, header in (
            ("ifNoneExist", "if-none-exist"),
            ("ifMatch", "if-match"),
            ("ifNoneMatch", "if-none-match"),
            ("ifModifiedSince", "if-modified-since"),
        ):
            if isinstance(req.get(field), str):
                headers[header] = req[field]
        if method == "PATCH":
            resource = _patch_document(resource, where)
            headers["content-type"] = "application/json-patch+json"
        entries.append(Entry(i, method, url, full_url, resource, headers))
    return entries


def _patch_document(resource: Any, where: str) -> Any:
    """A PATCH entry carries a Binary (JSON Patch, base64) or a Parameters (FHIRPath Patch)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        import base64

        from platform_core.fhir.jsonio import parse_json

        try:
            return parse_json(base64.b64decode(resource.get("data", ""), validate=False))
        except (ValueError, TypeError):
            raise _invalid(f"{where}: the Binary does not hold a JSON Patch", where) from None
    return resource


def response_entry(
    response: FhirResponse, *, include_resource: bool, full_url: str | None = None
) -> dict[str, Any]:
    """A Bundle.entry of a batch- or transaction-response."""
    entry: dict[str, Any] = {}
    body = response.body_resource() if include_resource or response.status >= 400 else None
    if full_url:
        entry["fullUrl"] = full_url
    if body is not None and response.status < 400:
        entry["resource"] = body
    status = STATUS_TEXT.get(response.status, str(response.status))
    out: dict[str, Any] = {"status": status}
    headers = response.headers
    if "Location" in headers:
        out["location"] = headers["Location"]
    if "ETag" in headers:
        out["etag"] = headers["ETag"]
    if response.last_updated:
        out["lastModified"] = response.last_updated
    if body is not None and response.status >= 400:
        out["outcome"] = body
    entry["response"] = out
    return entry


def _invalid(message: str, expression: str) -> FhirError:
    return FhirError(400, [issue(error_codes.INVALID_BUNDLE, message, expression)])
