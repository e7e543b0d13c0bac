"""The global search's background jobs.

* ``search.index_resource``: triggered by every write of an indexed FHIR type
  (``resource_types``); indexes the resource's current state, or deletes its documents when
  it is gone. Idempotent, and order does not matter: it reads what is current when it runs.
  On the embedded backend it runs inside the write's own transaction (``in_write``); on
  Elasticsearch it goes through the outbox.
* ``search.index_document``: a plugin's own document, its payload the document as JSON
  (:func:`search.documents.document_payload`).
* ``search.delete_document``: ``{"kind": K, "id": I}``.

A job that fails (the search cluster is down) is retried with backoff, so the index catches
up once the backend is back; the FHIR write it follows has long succeeded. On the embedded
backend the index write joins the transaction it runs in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from platform_core.jobs.definitions import JobContext, JobDefinition
from platform_core.plugin_api import ResourceChange
from search.documents import document_from_payload
from search.service import SearchService, service_of

INDEX_RESOURCE = "search.index_resource"
INDEX_DOCUMENT = "search.index_document"
DELETE_DOCUMENT = "search.delete_document"
MAX_ATTEMPTS = 10
"""Ten attempts, 1 s doubling up to 5 min apart (about nine minutes in all): long enough to
ride out a cluster restart."""


def _service(ctx: JobContext) -> SearchService:
    return service_of(ctx.core)


def _index_resource(ctx: JobContext) -> None:
    # Inside the write the written resource comes along (ctx.resource): no read needed.
    _service(ctx).index_change(ResourceChange.from_payload(ctx.payload), ctx.conn, ctx.resource)


def _index_document(ctx: JobContext) -> None:
    _service(ctx).index_document(document_from_payload(ctx.payload), ctx.conn)


def _delete_document(ctx: JobContext) -> None:
    payload = ctx.payload
    _service(ctx).backend.delete(str(payload["kind"]), [str(payload["id"])], conn=ctx.conn)


def _job(name: str, run: Callable[[JobContext], None], **options: Any) -> JobDefinition:
    return JobDefinition(
        name, run, max_attempts=MAX_ATTEMPTS, backoff_s=1.0, backoff_max_s=300.0, **options
    )


def _indexes_in_write(core: Any) -> bool:
    """Whether writes index their resource themselves: when the backend stores documents in
    the app's database, the document joins the write's transaction. Through the outbox (a
    row, then a second transaction) indexing had cost a create about as much CPU as the
    create itself (docs/benchmarks.md), and now a search never sees a committed resource
    without its document."""
    return service_of(core).backend.shares_database


def job_definitions(resource_types: Iterable[str]) -> list[JobDefinition]:
    """The jobs, the first one triggered by writes of ``resource_types``."""
    types = frozenset(resource_types)
    return [
        _job(
            INDEX_RESOURCE,
            _index_resource,
            resource_types=types or None,
            in_write=_indexes_in_write if types else False,
        ),
        _job(INDEX_DOCUMENT, _index_document),
        _job(DELETE_DOCUMENT, _delete_document),
    ]
