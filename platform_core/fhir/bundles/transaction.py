"""Transaction Bundles: all entries succeed together or nothing is written.

Steps (FHIR R4 http.html#trules): settle every entry's identity, rewrite references, then
process DELETE, POST, PUT/PATCH, GET/HEAD in that order inside one database transaction.
A failing entry rolls everything back and the OperationOutcome names it. A write conflict
with a concurrent transaction retries the whole Bundle from scratch, so conditional matches
and references are resolved afresh and no id from a rolled-back attempt is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from platform_core.fhir import error_codes
from platform_core.fhir.bundles.entries import (
    TRANSACTION_ORDER,
    Entry,
    parse_entries,
    response_entry,
)
from platform_core.fhir.bundles.references import rewrite_references
from platform_core.fhir.errors import FhirError, Issue
from platform_core.fhir.interactions.common import Env, check_type, prefer, require_resource
from platform_core.fhir.repository import ItemFailed, new_id
from platform_core.fhir.request import FhirRequest, FhirResponse

log = logging.getLogger(__name__)


class RetryTransaction(Exception):
    """A concurrent writer invalidated this attempt; start again."""


def process_transaction(env: Env, request: FhirRequest, bundle: dict[str, Any]) -> FhirResponse:
    """Run a transaction Bundle and answer with a transaction-response Bundle."""
    entries = parse_entries(bundle, env.base_url)
    include = prefer(request, "return") == "representation"
    retries = env.repository.settings.transaction_retries
    for attempt in range(retries + 1):
        try:
            with env.repository.transaction() as conn:
                responses = _run(env, entries, conn)
            break
        except (RetryTransaction, IntegrityError) as exc:
            log.info("transaction retry %d after conflict: %s", attempt + 1, exc)
        except DBAPIError as exc:
            if not _is_serialization_failure(exc):
                raise
            log.info("transaction retry %d after %s", attempt + 1, exc.orig)
    else:
        raise FhirError.of(
            409,
            error_codes.CONCURRENT_WRITE,
            f"The transaction kept conflicting with concurrent writes ({retries + 1} attempts)",
        )
    out = [
        response_entry(
            responses[e.index][0],
            include_resource=include or e.method in {"GET", "HEAD"},
            full_url=responses[e.index][1],
        )
        for e in entries
    ]
    result: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction-response"}
    if out:
        result["entry"] = out
    return FhirResponse(200, resource=result)


def _run(
    env: Env, entries: list[Entry], conn: Connection
) -> dict[int, tuple[FhirResponse, str | None]]:
    from platform_core.fhir.router import dispatch

    mapping: dict[str, str] = {}
    matched: dict[int, Any] = {}
    assigned: dict[int, str] = {}
    for entry in entries:
        _settle_identity(env, entry, conn, mapping, matched, assigned)

    def resolve_condition(ref: str) -> str:
        rtype, _, query = ref.partition("?")
        found = env.repository.find(env.ctx, rtype, query, conn=conn)
        if len(found) != 1:
            what = "no" if not found else "more than one"
            raise FhirError.of(
                412 if found else 404,
                error_codes.UNRESOLVED_REFERENCE,
                f"Conditional reference {ref!r} matches {what} resource; it must match one",
            )
        return found[0].reference

    responses: dict[int, tuple[FhirResponse, str | None]] = {}
    bulk = [e for e in entries if _is_plain_create(e, matched)]
    bulk_done = False
    for entry in sorted(entries, key=lambda e: TRANSACTION_ORDER[e.method]):
        if entry.method == "POST" and not bulk_done:
            # All plain creates go in together when the POST phase starts (same order, same
            # checks, a few multi-row statements instead of three per entry).
            _bulk_create(env, bulk, conn, mapping, resolve_condition, assigned, responses)
            bulk_done = True
        if entry.index in responses:
            continue
        try:
            if entry.index in matched:
                stored = matched[entry.index]
                headers = stored.version_headers(env.base_url)
                responses[entry.index] = (
                    FhirResponse(
                        200,
                        raw=stored.content,
                        headers=headers,
                        last_updated=stored.last_updated_instant,
                    ),
                    _full_url(env, stored.reference),
                )
                continue
            resource = entry.resource
            if isinstance(resource, dict):
                resource = rewrite_references(resource, mapping, resolve_condition)
            url = entry.url
            if (
                "?" in url
                and entry.method in {"DELETE", "PUT", "PATCH"}
                and entry.index in assigned
            ):
                url = assigned[entry.index]
                if entry.method == "PUT" and isinstance(resource, dict):
                    resource = {**resource, "id": url.split("/", 1)[1]}
            req = entry.to_request(url)
            req.resource = resource
            req.assigned_id = assigned.get(entry.index) if entry.method == "POST" else None
            response = dispatch(env, req, conn)
            if response.status >= 400:
                raise FhirError(response.status, [])
            if entry.method == "POST" and response.status == 200 and req.assigned_id:
                # A conditional create found a match only now: a concurrent transaction
                # created it after our identity pass. Our references point at the id we
                # assigned, so start over.
                raise RetryTransaction(entry.describe())
            location = response.headers.get("Location", "")
            ref = "/".join(location[len(env.base_url) + 1 :].split("/")[:2]) if location else None
            responses[entry.index] = (response, _full_url(env, ref) if ref else None)
        except FhirError as exc:
            raise _entry_error(entry, exc) from None
    return responses


def _is_plain_create(entry: Entry, matched: dict[int, Any]) -> bool:
    return (
        entry.method == "POST"
        and entry.index not in matched
        and "if-none-exist" not in entry.headers
        and "/" not in entry.url
        and "?" not in entry.url
    )


def _bulk_create(
    env: Env,
    bulk: list[Entry],
    conn: Connection,
    mapping: dict[str, str],
    resolve_condition: Any,
    assigned: dict[int, str],
    responses: dict[int, tuple[FhirResponse, str | None]],
) -> None:
    items = []
    for entry in bulk:
        try:
            check_type(entry.url)
            resource = require_resource(entry.resource, entry.url)
            resource = rewrite_references(resource, mapping, resolve_condition)
        except FhirError as exc:
            raise _entry_error(entry, exc) from None
        items.append(({k: v for k, v in resource.items() if k != "id"}, assigned[entry.index]))
    try:
        stored = env.repository.create_many(env.ctx, conn, items)
    except ItemFailed as failed:
        raise _entry_error(bulk[failed.index], failed.error) from None
    for entry, item in zip(bulk, stored, strict=True):
        response = FhirResponse(
            201,
            raw=item.content,
            headers=item.version_headers(env.base_url),
            last_updated=item.last_updated_instant,
        )
        responses[entry.index] = (response, _full_url(env, item.reference))


def _settle_identity(
    env: Env,
    entry: Entry,
    conn: Connection,
    mapping: dict[str, str],
    matched: dict[int, Any],
    assigned: dict[int, str],
) -> None:
    rtype = entry.url.split("?", 1)[0].split("/", 1)[0]
    try:
        if entry.method == "POST":
            condition = entry.headers.get("if-none-exist")
            if condition:
                query = condition.split("?", 1)[-1]
                existing = env.repository.find_one(env.ctx, rtype, query, conn=conn)
                if existing is not None:
                    matched[entry.index] = existing
                    if entry.full_url:
                        mapping[entry.full_url] = existing.reference
                    return
            assigned[entry.index] = new_id()
            if entry.full_url:
                mapping[entry.full_url] = f"{rtype}/{assigned[entry.index]}"
        elif entry.method in {"PUT", "PATCH", "DELETE"} and "?" in entry.url:
            _, _, query = entry.url.partition("?")
            existing = env.repository.find_one(env.ctx, rtype, query, conn=conn)
            if existing is not None:
                assigned[entry.index] = existing.reference
            elif entry.method == "PUT":
                body_id = entry.resource.get("id") if isinstance(entry.resource, dict) else None
                assigned[entry.index] = f"{rtype}/{body_id or new_id()}"
            if entry.full_url and entry.index in assigned:
                mapping[entry.full_url] = assigned[entry.index]
        elif entry.method == "PUT" and entry.full_url:
            mapping[entry.full_url] = "/".join(entry.url.split("/")[:2])
    except FhirError as exc:
        raise _entry_error(entry, exc) from None


def _full_url(env: Env, reference: str) -> str:
    return f"{env.base_url}/{reference}"


def _entry_error(entry: Entry, exc: FhirError) -> FhirError:
    issues = [
        Issue(
            error_codes.BUNDLE_ENTRY_FAILED,
            f"{entry.describe()} failed with {exc.status}",
            (entry.label,),
        )
    ]
    for item in exc.issues:
        issues.append(
            Issue(
                item.error,
                f"{entry.describe()}: {item.diagnostics}",
                (entry.label, *item.expression),
                item.severity,
            )
        )
    return FhirError(exc.status, issues)


def _is_serialization_failure(exc: DBAPIError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in {"40001", "40P01"}
