"""The global search of one app: its backend, its document sources, and the operations the
API, FHIR ``_text``/``_content``, the jobs and the reindex command share.

Built once per core (:func:`service_of`, through the plugin's per-app runtime). The backend
is the one ``settings.search_backend`` names among those registered through
``register_search_backends``; the sources are every plugin's ``register_search_documents``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from platform_core.fhir import error_codes
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.plugin_api import DocumentSource, ResourceChange, SearchDocument, TextSearch
from search.backend import SearchBackend, SearchQuery, SearchResult, Visibility
from search.visibility import visibility_for

log = logging.getLogger(__name__)
RUNTIME = "search.runtime"
"""Plugin-manager name of the per-app :class:`search.plugin.SearchRuntime`."""
NO_MATCH = ""
"""The ``_text`` answer when nothing matches (see :meth:`SearchService.text_search`)."""


class SearchConfigError(Exception):
    """The search configuration cannot work (unknown backend, two sources of one kind)."""


@dataclass
class SearchService:
    """See the module docstring."""

    core: Any
    backend: SearchBackend
    sources: Mapping[str, DocumentSource]
    """By kind."""

    @classmethod
    def build(cls, core: Any) -> SearchService:
        # hook: register_search_backends
        factories: dict[str, Any] = {}
        for found in core.plugins.hook.register_search_backends():
            factories.update(found or {})
        name = core.settings.search_backend
        if name not in factories:
            raise SearchConfigError(
                f"search_backend {name!r} is not registered; known: {', '.join(sorted(factories))}"
            )
        return cls(core, factories[name](core), collect_sources(core.plugins.hook))

    # --- what is indexed ------------------------------------------------------------------
    def kind_types(self) -> dict[str, str | None]:
        """Each kind and its FHIR type (None for a plugin's own kind)."""
        return {kind: source.resource_type for kind, source in self.sources.items()}

    def sources_of_type(self, resource_type: str) -> list[DocumentSource]:
        return [s for s in self.sources.values() if s.resource_type == resource_type]

    # --- indexing -------------------------------------------------------------------------
    def index_change(
        self,
        change: ResourceChange,
        conn: Connection | None = None,
        written: dict[str, Any] | None = None,
    ) -> None:
        """Bring the documents of a written resource up to date with its current state (so
        a late or repeated job is harmless: it indexes what is there now). ``written``:
        the resource as the write in progress on ``conn`` stored it, which is the current
        state there (saves reading it back)."""
        current = None if change.deleted else written
        if current is None and not change.deleted:
            try:
                current = self.core.repository.read(
                    RequestContext.system("search"),
                    change.resource_type,
                    change.resource_id,
                    conn=conn,
                ).resource()
            except FhirError as exc:
                if exc.status not in (404, 410):
                    raise
        for source in self.sources_of_type(change.resource_type):
            doc = None
            if current is not None and source.to_document is not None:
                doc = source.to_document(current)
            if doc is None:
                self.backend.delete(source.kind, [change.resource_id], conn=conn)
            else:
                self.backend.index([doc], conn=conn)

    def index_document(self, doc: SearchDocument, conn: Connection | None = None) -> None:
        """Index a plugin's document (the ``search.index_document`` job)."""
        if doc.kind not in self.sources:
            raise ValueError(f"no document source registers the kind {doc.kind!r}")
        self.backend.index([doc], conn=conn)

    # --- searching ------------------------------------------------------------------------
    def visibility(self, ctx: RequestContext | None) -> Visibility:
        return visibility_for(ctx, self.kind_types(), self.core.plugins.hook)

    def search(self, ctx: RequestContext | None, query: SearchQuery) -> SearchResult:
        """``query`` with its visibility replaced by the caller's."""
        return self.backend.search(
            SearchQuery(
                query.text,
                self.visibility(ctx),
                query.kinds,
                query.page,
                query.size,
                query.prefix,
                query.typos,
                query.highlight,
                query.facets,
            )
        )

    def text_search(self, search: TextSearch) -> list[str]:
        """FHIR ``_text``/``_content`` on an indexed type: matching ids, best first."""
        kinds = frozenset(s.kind for s in self.sources_of_type(search.resource_type))
        if not kinds:
            indexed = sorted({s.resource_type for s in self.sources.values() if s.resource_type})
            raise FhirError.of(
                400,
                error_codes.UNSUPPORTED_SEARCH_FEATURE,
                f"{search.parameter} is not supported on {search.resource_type}: the global "
                f"search indexes {', '.join(indexed)}",
                search.parameter,
            )
        size = max(1, min(search.limit, 1_000))
        query = SearchQuery(
            search.text, Visibility(), kinds, 1, size, highlight=False, facets=False
        )
        found = self.search(search.ctx, query)
        # No match is answered with an id no resource can have (FHIR ids are never empty):
        # the core turns an empty answer into a NUL-byte id, which PostgreSQL rejects.
        return list(dict.fromkeys(hit.id for hit in found.hits)) or [NO_MATCH]


def collect_sources(hook: Any) -> dict[str, DocumentSource]:
    """Every plugin's document sources, by kind; two sources of one kind are refused.

    :param hook: the plugin hooks (``PluginHost.hook`` or a plugin manager's ``hook``)."""
    sources: dict[str, DocumentSource] = {}
    # hook: register_search_documents
    for source in (s for found in hook.register_search_documents() for s in found or ()):
        if source.kind in sources:
            raise SearchConfigError(f"two document sources register the kind {source.kind!r}")
        sources[source.kind] = source
    return sources


def service_of(core: Any) -> SearchService:
    """The search service of an app's core (raises when the plugin is not active)."""
    runtime = core.plugins.pm.get_plugin(RUNTIME)
    if runtime is None:
        raise SearchConfigError("the search plugin is not active")
    service: SearchService = runtime.bind(core)
    return service
