"""The global search as a Fireside plugin (entry point ``search`` in the ``fireside`` group).

The module's hooks register what needs no app: the two backends, the FHIR document
sources, the API blueprint, the ``reindex`` command and the migrations. The hooks that need
the app's search service (its jobs, its readiness check, FHIR ``_text``) live on a
:class:`SearchRuntime`, one per plugin manager, registered from ``add_hookspecs`` (the one
hook that fires once per manager): each app, worker or command then has its own service and
no state is shared between apps through this module.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pluggy

from platform_core import hookimpl
from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.jobs.definitions import JobDefinition
from platform_core.plugin_api import Command, DocumentSource, ReadinessCheck, TextSearch
from search.api import make_blueprint
from search.backend import SearchUnavailable
from search.documents import fhir_sources
from search.elastic.backend import ElasticsearchBackend
from search.embedded.backend import EmbeddedBackend
from search.jobs import job_definitions
from search.reindex import REINDEX_COMMAND
from search.service import RUNTIME, SearchService, collect_sources

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"


class SearchRuntime:
    """The hooks of one plugin manager that need the app's search service."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.service: SearchService | None = None
        self._lock = threading.Lock()

    def bind(self, core: Any) -> SearchService:
        """The search service of ``core`` (built on first use)."""
        with self._lock:
            if self.service is None or self.service.core is not core:
                self.service = SearchService.build(core)
            return self.service

    @hookimpl
    def register_jobs(self) -> list[JobDefinition]:
        sources = collect_sources(self.pm.hook).values()
        return job_definitions(s.resource_type for s in sources if s.resource_type)

    @hookimpl
    def register_readiness_checks(self, core: Any) -> list[ReadinessCheck]:
        backend = self.bind(core).backend
        return [ReadinessCheck(f"search ({backend.name})", backend.health)]

    @hookimpl(wrapper=True)
    def fhir_text_search(self, search: TextSearch) -> Generator[None, Any, list[str] | None]:
        """Answer ``_text``/``_content`` when no other plugin does.

        A wrapper, so that a plugin answering for a type of its own goes first whatever the
        registration order: only when every implementation returned None, or the core's
        fallback refused (FS-3003), does the global search answer."""
        try:
            answer = yield
        except FhirError as exc:
            if exc.issues[0].error is not error_codes.UNSUPPORTED_SEARCH_FEATURE:
                raise
            answer = None
        return answer if answer is not None else self._answer(search)

    def _answer(self, search: TextSearch) -> list[str]:
        if self.service is None:
            raise FhirError.of(
                503,
                error_codes.PLUGIN_FAILED,
                "The global search has not been started in this process",
                search.parameter,
            )
        try:
            return self.service.text_search(search)
        except SearchUnavailable as exc:
            raise FhirError.of(
                503,
                error_codes.PLUGIN_FAILED,
                f"The global search is unavailable ({exc}); try again later",
                search.parameter,
            ) from None


@hookimpl
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    if pm.get_plugin(RUNTIME) is None:
        pm.register(SearchRuntime(pm), name=RUNTIME)


@hookimpl
def register_search_backends() -> dict[str, Any]:
    return {"embedded": EmbeddedBackend.from_core, "elasticsearch": ElasticsearchBackend.from_core}


@hookimpl
def register_search_documents() -> list[DocumentSource]:
    return fhir_sources()


@hookimpl
def register_blueprints() -> list[Any]:
    return [make_blueprint()]


@hookimpl
def register_commands() -> list[Command]:
    return [REINDEX_COMMAND]


@hookimpl
def register_migrations() -> list[str]:
    return [str(MIGRATIONS)]
