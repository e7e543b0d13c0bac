"""The index follows the data: FHIR writes through the outbox, plugin documents through the
``search.index_document``/``search.delete_document`` jobs, everything through ``reindex``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from platform_core import hookimpl
from platform_core.app import build_core
from platform_core.db.engine import write_transaction
from platform_core.fhir.context import RequestContext
from platform_core.plugin_api import DocumentSource, SearchDocument
from search.backend import SearchQuery, Visibility
from search.documents import document_payload
from search.jobs import DELETE_DOCUMENT, INDEX_DOCUMENT, INDEX_RESOURCE
from search.reindex import REINDEX_COMMAND, reindex
from search.service import service_of


def titles(service: Any, text: str, **options: Any) -> list[str]:
    service.backend.refresh()
    result = service.backend.search(SearchQuery(text, Visibility.all(), **options))
    return [hit.title for hit in result.hits]


def test_fhir_writes_are_indexed_through_the_outbox(fhir, search_service):
    created = fhir.create(
        {"resourceType": "Practitioner", "name": [{"given": ["Ada"], "family": "Lovelace"}]}
    )
    assert titles(search_service, "lovelace") == ["Ada Lovelace"]
    created["name"] = [{"given": ["Ada"], "family": "Byron"}]
    assert fhir.put(f"Practitioner/{created['id']}", created).status_code == 200
    assert titles(search_service, "lovelace") == []
    assert titles(search_service, "byron") == ["Ada Byron"]
    assert fhir.delete(f"Practitioner/{created['id']}").status_code in (200, 204)
    assert titles(search_service, "byron") == []


def test_each_indexed_type_becomes_its_kind_of_document(fhir, search_service):
    fhir.create(
        {
            "resourceType": "Organization",
            "name": "Lakeside Clinic",
            "alias": ["Lakeside"],
            "address": [{"city": "Nakuru", "country": "KE"}],
        }
    )
    fhir.create(
        {"resourceType": "Location", "name": "Ward 7", "description": "Lakeside paediatric ward"}
    )
    fhir.create(
        {"resourceType": "Observation", "status": "final", "code": {"text": "Lakeside glucose"}}
    )
    result = search_service.backend.search(SearchQuery("lakeside", Visibility.all()))
    assert result.facets == {"organization": 1, "location": 1}
    assert titles(search_service, "nakuru") == ["Lakeside Clinic"]


def test_the_index_job_is_registered_for_the_indexed_types(app: Flask):
    jobs = app.extensions["fireside"].jobs.definitions
    assert jobs[INDEX_RESOURCE].resource_types == frozenset(
        {"Patient", "Practitioner", "Organization", "Location", "Medication"}
    )
    assert {INDEX_DOCUMENT, DELETE_DOCUMENT} <= set(jobs)


def test_the_index_job_is_idempotent_and_reads_the_current_state(app, fhir, search_service):
    core = app.extensions["fireside"]
    created = fhir.create({"resourceType": "Medication", "code": {"text": "Zinc tablets"}})
    change = {
        "interaction": "create",
        "resource_type": "Medication",
        "resource_id": created["id"],
        "version_id": 1,
        "last_updated": "2026-01-01T00:00:00+00:00",
        "deleted": False,
        "actor": "system",
    }
    created["code"]["text"] = "Zinc sulfate tablets"
    fhir.put(f"Medication/{created['id']}", created)
    for _ in range(2):  # a late, repeated run of the version-1 job
        with write_transaction(core.db) as conn:
            core.jobs.enqueue(conn, INDEX_RESOURCE, change)
    assert titles(search_service, "zinc") == ["Zinc sulfate tablets"]


# --- a plugin's own documents ----------------------------------------------------------------
class Articles:
    """A plugin publishing articles: ``load_all`` for a reindex, jobs for its changes."""

    def __init__(self) -> None:
        self.articles = {
            "1": "Weaning your baby",
            "2": "Fever in toddlers",
            "3": "Healthy lunch boxes",
        }

    @hookimpl
    def register_search_documents(self) -> list[DocumentSource]:
        return [DocumentSource(kind="article", load_all=self.load_all)]

    def load_all(self, core: Any) -> Iterator[SearchDocument]:
        for key, title in self.articles.items():
            yield SearchDocument("article", key, title, url=f"/api/cms/articles/{key}")


@pytest.fixture
def plugin_core(app: Flask, search_service) -> Iterator[Any]:
    """A core on the suite's database with the Articles plugin beside the installed ones."""
    articles = Articles()
    core = build_core(app.extensions["fireside"].settings, plugins=[articles])
    core.articles = articles  # type: ignore[attr-defined]
    yield core
    core.dispose()


def test_plugin_documents_are_kept_current_through_jobs(plugin_core):
    service = service_of(plugin_core)
    doc = SearchDocument(
        "article", "9", "Teething remedies", "Cold teething rings help", url="/api/cms/articles/9"
    )
    with write_transaction(plugin_core.db) as conn:
        plugin_core.jobs.enqueue(conn, INDEX_DOCUMENT, document_payload(doc), key="article:9:v1")
    assert titles(service, "teething") == ["Teething remedies"]
    with write_transaction(plugin_core.db) as conn:
        plugin_core.jobs.enqueue(conn, DELETE_DOCUMENT, {"kind": "article", "id": "9"})
    assert titles(service, "teething") == []


def test_a_document_of_an_unregistered_kind_fails_its_job(plugin_core):
    stray = SearchDocument("spaceship", "1", "Teething rocket")
    with write_transaction(plugin_core.db) as conn:
        job_id = plugin_core.jobs.enqueue(conn, INDEX_DOCUMENT, document_payload(stray))
    job = plugin_core.jobs.get(job_id)
    assert job.state != "done" and "spaceship" in (job.last_error or "")


def test_reindex_rebuilds_every_kind_and_drops_what_is_gone(plugin_core):
    service = service_of(plugin_core)
    repo, system = plugin_core.repository, RequestContext.system()
    with repo.transaction() as conn:
        repo.create(system, conn, {"resourceType": "Patient", "name": [{"family": "Toddler"}]})
    service.backend.clear()  # the index lost everything
    summary = reindex(service)
    assert summary.kinds["article"] == 3 and summary.kinds["patient"] == 1
    assert summary.documents >= 4 and summary.docs_per_s > 0
    assert titles(service, "toddlers") == ["Fever in toddlers"]
    assert titles(service, "toddler", prefix=False) == ["Toddler"]
    del plugin_core.articles.articles["2"]
    plugin_core.articles.articles["4"] = "Sleep for toddlers"
    assert reindex(service, ["article"]).kinds == {"article": 3}
    assert titles(service, "toddlers") == ["Sleep for toddlers"]
    assert titles(service, "toddler", prefix=False) == ["Toddler"]  # other kinds untouched


def test_reindex_refuses_an_unknown_kind(plugin_core):
    with pytest.raises(ValueError, match="spaceship"):
        reindex(service_of(plugin_core), ["spaceship"])


def test_the_reindex_command_prints_a_summary(app, fhir, search_service, monkeypatch, capsys):
    fhir.create({"resourceType": "Medication", "code": {"text": "Magnesium citrate"}})
    search_service.backend.clear()
    monkeypatch.setenv("FIRESIDE_DATABASE_URL", app.extensions["fireside"].settings.database_url)
    assert REINDEX_COMMAND.run(argparse.Namespace(kinds=["medication"])) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["kinds"] == {"medication": 1} and "docs_per_s" in summary
    assert titles(search_service, "magnesium") == ["Magnesium citrate"]
    assert REINDEX_COMMAND.run(argparse.Namespace(kinds=["spaceship"])) == 2
