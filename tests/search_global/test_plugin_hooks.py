"""The search plugin's hooks: backends and document sources other plugins register, the
jobs it registers, and the choice of backend by configuration."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from platform_core import hookimpl
from platform_core.app import build_core, create_app
from platform_core.plugin_api import DocumentSource, SearchDocument
from search.backend import SearchQuery, SearchResult, Visibility
from search.documents import FHIR_BUILDERS
from search.elastic.backend import ElasticsearchBackend
from search.embedded.backend import EmbeddedBackend
from search.jobs import INDEX_RESOURCE
from search.service import SearchConfigError, service_of


class EchoBackend:
    """A backend of another plugin: answers every search with one hit."""

    name = "echo"

    def __init__(self, core: Any) -> None:
        self.core = core

    def search(self, query: SearchQuery) -> SearchResult:
        return SearchResult([], 42)

    def health(self) -> str | None:
        return "echo is never ready"


class EchoPlugin:
    @hookimpl
    def register_search_backends(self) -> dict[str, Any]:
        return {"echo": EchoBackend}


class RecipesPlugin:
    @hookimpl
    def register_search_documents(self) -> list[DocumentSource]:
        return [
            DocumentSource(kind="recipe", load_all=lambda core: iter(())),
            DocumentSource(
                kind="device",
                resource_type="Device",
                to_document=lambda r: SearchDocument("device", r["id"], "A device"),
            ),
        ]


@pytest.fixture
def core_with(app) -> Iterator[Any]:
    made: list[Any] = []

    def build(*plugins: Any, **config: Any) -> Any:
        core = build_core(replace(app.extensions["fireside"].settings, **config), plugins)
        made.append(core)
        return core

    yield build
    for core in made:
        core.dispose()


def test_hook_register_search_backends_picks_the_configured_backend(core_with):
    assert isinstance(service_of(core_with()).backend, EmbeddedBackend)
    assert isinstance(
        service_of(core_with(search_backend="elasticsearch")).backend, ElasticsearchBackend
    )
    echo = service_of(core_with(EchoPlugin(), search_backend="echo"))
    assert isinstance(echo.backend, EchoBackend)
    assert echo.backend.search(SearchQuery("x", Visibility.all())).total == 42
    with pytest.raises(SearchConfigError, match="'nope' is not registered"):
        service_of(core_with(search_backend="nope"))


def test_hook_register_search_documents_adds_kinds_and_indexed_types(core_with):
    core = core_with(RecipesPlugin())
    service = service_of(core)
    assert service.kind_types() == {
        **{kind: rtype for rtype, (kind, _) in FHIR_BUILDERS.items()},
        "recipe": None,
        "device": "Device",
    }
    assert "Device" in core.jobs.definitions[INDEX_RESOURCE].resource_types


def test_hook_register_search_documents_refuses_a_kind_twice(core_with):
    class Duplicate:
        @hookimpl
        def register_search_documents(self) -> list[DocumentSource]:
            return [DocumentSource(kind="patient", load_all=lambda core: iter(()))]

    with pytest.raises(SearchConfigError, match="'patient'"):
        service_of(core_with(Duplicate()))


def test_hook_register_jobs_indexes_the_types_of_every_document_source(core_with):
    jobs = core_with().jobs.definitions
    assert jobs[INDEX_RESOURCE].resource_types == frozenset(FHIR_BUILDERS)
    assert jobs[INDEX_RESOURCE].max_attempts >= 5


@pytest.fixture
def app_with(app) -> Iterator[Any]:
    """``app_with(*plugins, **config)``: another app on the suite's database."""
    made: list[Any] = []

    def build(*plugins: Any, **config: Any) -> Any:
        base = app.extensions["fireside"].settings
        settings = {"database_url": base.database_url, "audit_flush_ms": 3_600_000, **config}
        made.append(create_app(settings, plugins=plugins))
        return made[-1]

    yield build
    for application in made:
        application.extensions["fireside"].dispose()


def test_the_readiness_check_names_the_backend(app_with):
    application = app_with(EchoPlugin(), search_backend="echo")
    ready = application.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["search (echo)"] == "unavailable: echo is never ready"


def test_the_plugin_can_be_switched_off(app_with):
    application = app_with(plugins_disabled=["search"])
    assert application.test_client().get("/api/search?q=x").status_code == 404
    assert "search" not in str(application.test_client().get("/readyz").get_json()["checks"])
    with pytest.raises(SearchConfigError):
        service_of(application.extensions["fireside"])
