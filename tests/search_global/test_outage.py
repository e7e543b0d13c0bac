"""A search cluster that goes away: ``/readyz`` says so, FHIR writes still succeed, and the
outbox retries the indexing until the index has caught up.

The app here has the Elasticsearch backend, talking to osmem-server through a TCP proxy
the test cuts and restores. It has a database of its own (same kind as the suite's), so no
other app's job runner can take its retries.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url
from support.tcp_proxy import TcpProxy

from platform_core.app import create_app
from platform_core.db.migrate import migrate_core
from search.backend import SearchQuery, Visibility
from search.service import service_of
from tests.conftest import database_url


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """A fresh database of the kind the suite runs on, dropped afterwards."""
    url = make_url(database_url(tmp_path))
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'outage.db'}"
        return
    name = f"fs_search_outage_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


@pytest.fixture
def es_app(osmem: Any, scratch_url: str) -> Iterator[tuple[Flask, TcpProxy]]:
    with osmem.clone() as clone:
        target = make_url(clone.url.replace("http://", "postgresql://"))
        proxy = TcpProxy((target.host or "127.0.0.1", target.port or 9200))
        proxy.restore()
        app = create_app(
            {
                "database_url": scratch_url,
                "auth_required": False,
                "jobs_inline_background": False,
                "jobs_inline_sync": True,
                "search_backend": "elasticsearch",
                "elasticsearch_url": f"http://127.0.0.1:{proxy.port}",
                "elasticsearch_compatibility": "opensearch",
                "search_index_prefix": "outage",
            }
        )
        migrate_core(app.extensions["fireside"])
        try:
            yield app, proxy
        finally:
            proxy.cut()
            app.extensions["fireside"].dispose()


def _create(app: Flask, family: str) -> None:
    body = {"resourceType": "Practitioner", "name": [{"family": family}]}
    resp = app.test_client().post(
        "/fhir/Practitioner", json=body, headers={"Content-Type": "application/fhir+json"}
    )
    assert resp.status_code == 201, resp.get_json()


def _found(app: Flask, text: str) -> int:
    service = service_of(app.extensions["fireside"])
    service.backend.refresh()
    return service.backend.search(SearchQuery(text, Visibility.all())).total


def test_writes_succeed_while_search_is_down_and_the_index_catches_up(es_app):
    app, proxy = es_app
    core = app.extensions["fireside"]
    client = app.test_client()
    _create(app, "Before")
    assert _found(app, "before") == 1
    assert client.get("/readyz").status_code == 200

    proxy.cut()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["search (elasticsearch)"].startswith("unavailable")
    _create(app, "During")  # the write succeeds; its indexing job fails and waits
    assert client.get("/api/search?q=during").status_code == 503
    assert core.jobs.find(limit=1)[0].state != "done"

    proxy.restore()
    assert client.get("/readyz").status_code == 200
    deadline = time.monotonic() + 15
    while _found(app, "during") == 0 and time.monotonic() < deadline:
        core.jobs.sweep()  # what the background thread or beat does
        time.sleep(0.2)
    assert _found(app, "during") == 1
    assert client.get("/api/search?q=during").get_json()["total"] == 1
