"""Shared fixtures: one app per test session on the database under test, a clean database
for every test, an HTTP client speaking FHIR JSON, and a live server over real sockets.

The database is SQLite (a fresh file) unless ``FIRESIDE_TEST_DATABASE_URL`` points at
PostgreSQL; ``.ci/run`` runs the suite once for each. The schema is always built by the Alembic
migrations, so every run tests them too.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from platform_core.app import create_app
from platform_core.db.migrate import migrate_core
from platform_core.db.schema import Base

BASE = "http://testserver"
KEEP_BETWEEN_TESTS = frozenset({"oauth_signing_key"})
"""Tables the per-test cleanup leaves alone: the signing key, so a process's cached key ring
stays true (a key ring is per app and the app lives for the whole session)."""
SYSTEM_SCOPE = "system/*.cruds"


def database_url(tmp_dir: Path) -> str:
    """The database under test."""
    return os.environ.get("FIRESIDE_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.db'}"


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    url = database_url(tmp_path_factory.mktemp("db"))
    mail = tmp_path_factory.mktemp("mail")
    application = create_app(
        {
            "database_url": url,
            # Mail the suite sends (identity links, notifications) goes to files here.
            "mail_url": mail.as_uri(),
            "base_url": BASE,
            "max_body_bytes": 2_000_000,
            # Audit records are written when a test flushes them (or at cleanup), never in
            # the background in the middle of a test that counts rows.
            "audit_flush_ms": 3_600_000,
            # Scheduled jobs (the daily purge) run when a test asks, never mid-test.
            "jobs_inline_background": False,
            # Inline jobs finish before the request answers, so a test sees their effect.
            "jobs_inline_sync": True,
        }
    )
    migrate_core(application.extensions["fireside"])
    yield application
    application.extensions["fireside"].dispose()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    core = application.extensions["fireside"]
    core.audit.flush()
    engine = core.db
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP_BETWEEN_TESTS:
                conn.execute(table.delete())


@pytest.fixture
def db(app: Flask) -> sa.Engine:
    return app.extensions["fireside"].db


class FhirClient:
    """A thin FHIR JSON client over Flask's WSGI test client."""

    def __init__(self, client: FlaskClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/fhir+json",
        raw: bytes | None = None,
    ) -> Any:
        hdrs = dict(headers or {})
        if self.token is not None:
            hdrs.setdefault("Authorization", f"Bearer {self.token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs.setdefault("Content-Type", content_type)
        return self.client.open("/fhir/" + path.lstrip("/"), method=method, data=data, headers=hdrs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """POST a resource and return the stored one (asserting 201)."""
        resp = self.post(resource["resourceType"], resource)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()


def issue_token(app: Flask, scope: str = SYSTEM_SCOPE, **claims: Any) -> str:
    """A real access token from the app's token service (``client_id`` defaults to
    ``test-suite``; pass ``user_id``, ``patient``, ``generation``... for user tokens)."""
    claims.setdefault("client_id", "test-suite")
    token, _ = app.extensions["fireside"].auth.tokens.issue(scope=scope, **claims)
    return token


@pytest.fixture
def fhir(app: Flask) -> FhirClient:
    """A FHIR client holding a backend-services token with every ``system/`` permission."""
    return FhirClient(app.test_client(), issue_token(app))


@pytest.fixture
def fhir_as(app: Flask) -> Any:
    """``fhir_as(scope, **claims)``: a FHIR client with its own token."""
    return lambda scope, **claims: FhirClient(app.test_client(), issue_token(app, scope, **claims))


@pytest.fixture
def http_headers(app: Flask) -> dict[str, str]:
    """Headers for FHIR calls over real HTTP (``live_server``) with a ``system/`` token."""
    return {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {issue_token(app)}"}


@pytest.fixture
def anonymous(app: Flask) -> FhirClient:
    """A FHIR client without a token."""
    return FhirClient(app.test_client())


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(app: Flask) -> Iterator[AppFactory]:
    """``make_app(*plugins, **config)``: a new app on the suite's database with ``plugins``
    registered (each a module or an object with ``@hookimpl`` methods)."""
    made: list[Flask] = []
    base = app.extensions["fireside"].settings

    def build(*plugins: Any, **config: Any) -> Flask:
        settings = {
            "database_url": base.database_url,
            "base_url": BASE,
            "audit_flush_ms": 3_600_000,
            # Scheduled jobs (the daily purge) run when a test asks, never mid-test.
            "jobs_inline_background": False,
            # Inline jobs finish before the request answers, so a test sees their effect.
            "jobs_inline_sync": True,
            **config,
        }
        application = create_app(settings, plugins=plugins)
        made.append(application)
        return application

    yield build
    for application in made:
        application.extensions["fireside"].dispose()


REQUEST_COUNTERS = frozenset({"identity_throttle"})
"""Tables that count requests (rate limits) rather than hold data: a refused request may
count against its caller's limit."""


def row_counts(engine: sa.Engine) -> dict[str, int]:
    """Rows per data table: compare before and after a rejected request to prove nothing
    was written."""
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
            if t.name not in REQUEST_COUNTERS
        }


@pytest.fixture
def counts(db: sa.Engine) -> Any:
    return lambda: row_counts(db)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def server_provenance(resource: dict[str, Any]) -> bool:
    """Whether ``resource`` is a Provenance the server wrote for an API write (tests of search
    results leave those out)."""
    from platform_core.fhir.provenance import CLIENT_SYSTEM

    if resource.get("resourceType") != "Provenance":
        return False
    agent = (resource.get("agent") or [{}])[0]
    ids = [
        agent.get("who", {}).get("identifier", {}),
        agent.get("onBehalfOf", {}).get("identifier", {}),
    ]
    return any(i.get("system") == CLIENT_SYSTEM for i in ids)


def outcome_codes(body: dict[str, Any]) -> list[str]:
    """The FS codes of an OperationOutcome."""
    assert body["resourceType"] == "OperationOutcome", body
    return [i["details"]["coding"][0]["code"] for i in body["issue"] if "details" in i]
