"""The Elasticsearch backend (the official client; see :mod:`.mapping` for the index layout).

Writes go through the alias with ``helpers.bulk``. A full rebuild is zero-downtime: a new
index is filled (refresh off, no replicas), then one ``update_aliases`` call moves the alias
to it atomically and the old index is dropped; writes made meanwhile reach both indexes
through the ``-building`` alias. Rebuilding some kinds only is done in place: their
documents are written afresh with a new ``generation`` and the older ones deleted by query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from platform_core.plugin_api import SearchDocument
from search.backend import SearchHit, SearchQuery, SearchResult, SearchUnavailable
from search.elastic import mapping
from search.elastic.client import COMPATIBILITY_KEY, make_client
from search.elastic.query import search_body

log = logging.getLogger(__name__)
CHUNK = 1_000


def _generation() -> int:
    return time.time_ns() // 1_000


class ElasticsearchBackend:
    """:class:`search.backend.SearchBackend` on an Elasticsearch cluster."""

    name = "elasticsearch"
    shares_database = False

    def __init__(self, client: Elasticsearch | None, prefix: str = "fireside") -> None:
        self._client = client
        self.prefix = prefix
        self.alias = mapping.alias(prefix)
        self.building = mapping.building_alias(prefix)
        self._ready = False

    @classmethod
    def from_core(cls, core: Any) -> ElasticsearchBackend:
        settings = core.settings
        client = None
        if settings.elasticsearch_url:
            compatibility = settings.extra.get(COMPATIBILITY_KEY, "elasticsearch")
            client = make_client(settings.elasticsearch_url, compatibility)
        return cls(client, settings.search_index_prefix)

    @property
    def client(self) -> Elasticsearch:
        if self._client is None:
            raise SearchUnavailable("elasticsearch_url is not set")
        return self._client

    # --- the index ----------------------------------------------------------------------
    def _ensure(self) -> None:
        """Put the template and create the first index behind the alias, once."""
        if self._ready:
            return
        self.client.indices.put_index_template(name=self.alias, **mapping.template(self.prefix))
        if not self.client.indices.exists_alias(name=self.alias):
            try:
                self.client.indices.create(
                    index=mapping.index_name(self.prefix, 0), aliases={self.alias: {}}
                )
            except ApiError as exc:  # another process made it first
                if "resource_already_exists" not in str(exc):
                    raise
        self._ready = True

    def _targets(self) -> list[str]:
        """Where writes go: the alias, and an index being rebuilt."""
        try:
            return [self.alias, *self.client.indices.get_alias(name=self.building).body]
        except NotFoundError:
            return [self.alias]

    def _bulk(self, actions: Iterable[dict[str, Any]], **options: Any) -> None:
        helpers.bulk(self.client, actions, chunk_size=CHUNK, **options)

    def _index_actions(
        self, docs: Sequence[SearchDocument], targets: Sequence[str]
    ) -> Iterable[dict[str, Any]]:
        generation = _generation()
        for doc in docs:
            for target in targets:
                yield {
                    "_index": target,
                    "_id": mapping.doc_key(doc.kind, doc.id),
                    "_source": mapping.source(doc, generation),
                }

    def index(self, docs: Sequence[SearchDocument], *, conn: Any = None) -> None:
        if docs:
            self._ensure()
            self._bulk(self._index_actions(docs, self._targets()))

    def delete(self, kind: str, ids: Sequence[str], *, conn: Any = None) -> None:
        if not ids:
            return
        self._ensure()
        actions = (
            {"_op_type": "delete", "_index": target, "_id": mapping.doc_key(kind, i)}
            for target in self._targets()
            for i in ids
        )
        self._bulk(actions, ignore_status=(404,))

    def bulk_index(self, docs: Sequence[SearchDocument]) -> None:
        self.index(docs)

    def start_rebuild(self, kinds: Collection[str] | None) -> Any:
        self._ensure()
        if kinds is None:
            return _FullRebuild(self)
        return _KindsRebuild(self, frozenset(kinds))

    def refresh(self) -> None:
        self._ensure()
        self.client.indices.refresh(index=self.alias)

    def clear(self) -> None:
        for name in (self.alias, self.building):
            try:
                indexes = list(self.client.indices.get_alias(name=name).body)
            except NotFoundError:
                continue
            for index in indexes:
                self.client.indices.delete(index=index, ignore_unavailable=True)
        self._ready = False

    def health(self) -> str | None:
        try:
            status = self.client.cluster.health(timeout="2s").body.get("status")
        except SearchUnavailable as exc:
            return str(exc)
        except (TransportError, ApiError) as exc:
            return f"elasticsearch unreachable: {type(exc).__name__}"
        except Exception as exc:  # a misconfigured client must not break /readyz itself
            return f"elasticsearch unusable: {exc}"
        return None if status in {"green", "yellow"} else f"cluster status {status}"

    # --- search ---------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        if query.parsed.empty:
            return SearchResult.empty()
        try:
            self._ensure()
            answer = self.client.search(index=self.alias, **search_body(query)).body
        except TransportError as exc:
            raise SearchUnavailable(f"elasticsearch unreachable: {type(exc).__name__}") from exc
        total = answer["hits"]["total"]
        buckets = answer.get("aggregations", {}).get("kinds", {}).get("buckets", [])
        return SearchResult(
            hits=[_hit(h) for h in answer["hits"]["hits"]],
            total=int(total["value"]),
            total_exact=total.get("relation", "eq") == "eq",
            facets={b["key"]: int(b["doc_count"]) for b in buckets},
        )


def _hit(hit: dict[str, Any]) -> SearchHit:
    source = hit["_source"]
    return SearchHit(
        kind=source["kind"],
        id=source["doc_id"],
        title=source["title"],
        url=source.get("url"),
        score=float(hit.get("_score") or 0.0),
        highlights={k: list(v) for k, v in hit.get("highlight", {}).items()},
        fields=source.get("fields") or {},
    )


class _FullRebuild:
    """A new index behind the ``-building`` alias, swapped in by :meth:`finish`."""

    def __init__(self, backend: ElasticsearchBackend) -> None:
        self.backend = backend
        es = backend.client
        self.index = mapping.index_name(backend.prefix, _generation())
        es.indices.create(
            index=self.index,
            settings={"refresh_interval": "-1", "number_of_replicas": 0},
            aliases={backend.building: {}},
        )

    def bulk_index(self, docs: Sequence[SearchDocument]) -> None:
        self.backend._bulk(self.backend._index_actions(docs, [self.index]))

    def finish(self) -> None:
        es, alias = self.backend.client, self.backend.alias
        es.indices.put_settings(index=self.index, settings={"refresh_interval": None})
        es.indices.refresh(index=self.index)
        try:
            old = list(es.indices.get_alias(name=alias).body)
        except NotFoundError:
            old = []
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": alias}} for i in old]
        actions += [
            {"add": {"index": self.index, "alias": alias}},
            {"remove": {"index": self.index, "alias": self.backend.building}},
        ]
        es.indices.update_aliases(actions=actions)
        for index in old:
            es.indices.delete(index=index, ignore_unavailable=True)
        log.info("search index %s is live (replaced %s)", self.index, ", ".join(old) or "none")

    def abort(self) -> None:
        self.backend.client.indices.delete(index=self.index, ignore_unavailable=True)


class _KindsRebuild:
    """Some kinds rebuilt in place (see the module docstring)."""

    def __init__(self, backend: ElasticsearchBackend, kinds: frozenset[str]) -> None:
        self.backend = backend
        self.kinds = kinds
        self.started = _generation()

    def bulk_index(self, docs: Sequence[SearchDocument]) -> None:
        self.backend.index(docs)

    def finish(self) -> None:
        es = self.backend.client
        es.indices.refresh(index=self.backend.alias)
        stale = {
            "bool": {
                "filter": [
                    {"terms": {"kind": sorted(self.kinds)}},
                    {"range": {"generation": {"lt": self.started}}},
                ]
            }
        }
        es.delete_by_query(index=self.backend.alias, query=stale, refresh=True, conflicts="proceed")

    def abort(self) -> None:
        """Nothing to undo: what was written is current."""
