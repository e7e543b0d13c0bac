"""``python manage.py reindex [--kind K ...]``: rebuild the global search index from its
sources, without interrupting searches.

FHIR kinds are read straight from the current-resource table (deleted resources skipped) in
batches; plugin kinds come from their source's ``load_all(core)``. Documents go to the
backend's rebuild in batches (its bulk path), and :meth:`Rebuild.finish` publishes the
result: documents of the rebuilt kinds that no source yielded any more disappear.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from platform_core.db.schema import resource_table
from platform_core.plugin_api import Command, DocumentSource, SearchDocument
from search.backend import Rebuild
from search.service import service_of

log = logging.getLogger(__name__)
BATCH = 1_000
R = resource_table.c


@dataclass
class ReindexSummary:
    """What a reindex did."""

    kinds: dict[str, int] = field(default_factory=dict)
    """Documents indexed per kind."""
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return sum(self.kinds.values())

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kinds": self.kinds,
            "documents": self.documents,
            "seconds": round(self.seconds, 2),
            "docs_per_s": round(self.docs_per_s, 1),
        }


def fhir_documents(core: Any, source: DocumentSource) -> Iterator[SearchDocument]:
    """The documents of every current resource of the source's FHIR type."""
    assert source.resource_type is not None and source.to_document is not None
    stmt = (
        sa.select(R.content)
        .where(R.resource_type == source.resource_type, R.deleted.is_(False))
        .order_by(R.rid)
    )
    with core.db.connect() as conn:
        rows = conn.execution_options(yield_per=BATCH, stream_results=True).execute(stmt)
        for (content,) in rows:
            if content is not None and (doc := source.to_document(orjson.loads(content))):
                yield doc


def source_documents(core: Any, source: DocumentSource) -> Iterable[SearchDocument]:
    if source.resource_type is not None:
        return fhir_documents(core, source)
    if source.load_all is not None:
        return source.load_all(core)
    return ()


def _batches(docs: Iterable[SearchDocument], size: int = BATCH) -> Iterator[list[SearchDocument]]:
    batch: list[SearchDocument] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _interleave(
    service: Any,
    kinds: list[str],
    rebuild: Rebuild,
    summary: ReindexSummary,
    progress: Callable[[str], None],
) -> None:
    """Feed the kinds' batches to ``rebuild`` in turn, one batch of each kind after the
    other, so documents of all kinds end up mixed in storage. (Written kind after kind, a
    word of one kind lies in one stretch of the table, and a database reading "the first
    matches" in table order can read far before it finds them: measured 650 ms instead of
    7 ms for a surname on PostgreSQL at a million documents.)"""
    streams = {k: _batches(source_documents(service.core, service.sources[k])) for k in kinds}
    summary.kinds.update(dict.fromkeys(kinds, 0))
    while streams:
        for kind in list(streams):
            batch = next(streams[kind], None)
            if batch is None:
                del streams[kind]
                progress(f"{kind}: {summary.kinds[kind]} documents")
                continue
            rebuild.bulk_index(batch)
            summary.kinds[kind] += len(batch)


def reindex(
    service: Any, kinds: Iterable[str] | None = None, progress: Callable[[str], None] = log.info
) -> ReindexSummary:
    """Rebuild ``kinds`` (None: everything). Raises ``ValueError`` for an unknown kind."""
    chosen = None if kinds is None else sorted(set(kinds))
    unknown = [k for k in chosen or () if k not in service.sources]
    if unknown:
        raise ValueError(
            f"unknown kind {', '.join(unknown)}; known: {', '.join(sorted(service.sources))}"
        )
    summary = ReindexSummary()
    started = time.perf_counter()
    rebuild: Rebuild = service.backend.start_rebuild(chosen)
    try:
        _interleave(service, chosen or sorted(service.sources), rebuild, summary, progress)
        rebuild.finish()
    except BaseException:
        rebuild.abort()
        raise
    summary.seconds = time.perf_counter() - started
    return summary


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind", action="append", dest="kinds", help="rebuild this kind only (repeatable)"
    )


def _run(args: argparse.Namespace) -> int:
    from platform_core.app import build_core
    from platform_core.config import load_settings

    core = build_core(load_settings())
    try:
        summary = reindex(service_of(core), args.kinds, progress=lambda m: print(m, flush=True))
    except ValueError as exc:
        print(f"reindex: {exc}")
        return 2
    finally:
        core.dispose()
    print(json.dumps(summary.as_dict()))
    return 0


REINDEX_COMMAND = Command(
    name="reindex",
    help="rebuild the global search index (all kinds, or --kind K)",
    run=_run,
    configure=_configure,
)
