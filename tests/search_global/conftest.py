"""Fixtures of the global search tests: the app's search service with an empty index, and
the ``backend`` fixture the contract suite runs once per backend.

* ``embedded``: the session app's own backend, on the database the suite runs on (SQLite or
  PostgreSQL), emptied before and after each test (its tables are not on the core's
  metadata, so the suite's cleanup does not touch them).
* ``osmem``: the Elasticsearch backend against osmem-server (an in-memory OpenSearch
  emulator), one clone of it per test, through the ``opensearch`` compatibility mode.
* ``elasticsearch``: the Elasticsearch backend against ``ELASTICSEARCH_URL``, with an index
  prefix of its own per test; skipped when the variable is not set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from flask import Flask

from platform_core.plugin_api import SearchDocument
from search.elastic.backend import ElasticsearchBackend
from search.elastic.client import make_client
from search.service import SearchService, service_of

ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL", "")


@pytest.fixture
def search_service(app: Flask) -> Iterator[SearchService]:
    """The session app's search service, its index empty before and after the test."""
    service = service_of(app.extensions["fireside"])
    service.backend.clear()
    yield service
    service.backend.clear()


@pytest.fixture(scope="session")
def osmem() -> Iterator[Any]:
    """One osmem-server for the session (each test takes a clone of it)."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


def osmem_backend(osmem: Any) -> Iterator[ElasticsearchBackend]:
    with osmem.clone() as clone:
        yield ElasticsearchBackend(make_client(clone.url, "opensearch"), "test")


def elasticsearch_backend() -> Iterator[ElasticsearchBackend]:
    if not ELASTICSEARCH_URL:
        pytest.skip("ELASTICSEARCH_URL is not set: no real Elasticsearch to test against")
    backend = ElasticsearchBackend(
        make_client(ELASTICSEARCH_URL), f"fs-test-{uuid.uuid4().hex[:8]}"
    )
    try:
        yield backend
    finally:
        backend.clear()
        backend.client.options(ignore_status=404).indices.delete_index_template(name=backend.alias)


@pytest.fixture(params=["embedded", "osmem", "elasticsearch"])
def backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each backend in turn, empty."""
    if request.param == "embedded":
        yield request.getfixturevalue("search_service").backend
    elif request.param == "osmem":
        yield from osmem_backend(request.getfixturevalue("osmem"))
    else:
        yield from elasticsearch_backend()


def load(backend: Any, docs: Sequence[SearchDocument]) -> None:
    """Index ``docs`` and make them searchable."""
    backend.index(list(docs))
    backend.refresh()
