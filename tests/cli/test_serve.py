"""``manage.py run --workers N``: gunicorn workers that freeze their start-up heap, serve
FHIR reads and write the audit records they buffered when they are stopped."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from platform_core.config import REPO_ROOT
from platform_core.fhir.definitions import element_model
from platform_core.serving import prepare_to_serve
from tests.conftest import BASE, FhirClient, issue_token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _audited_reads(db: sa.Engine, reference: str) -> int:
    """AuditEvents that record a read of ``reference``."""
    with db.connect() as conn:
        contents = conn.execute(
            sa.text("SELECT content FROM fhir_resource WHERE resource_type = 'AuditEvent'")
        ).scalars()
        events = [json.loads(c) if isinstance(c, str) else c for c in contents]
    return sum(
        1
        for e in events
        if e.get("subtype", [{}])[0].get("code") == "read"
        and e.get("entity", [{}])[0].get("what", {}).get("reference") == reference
    )


def test_prepare_to_serve_loads_the_definitions_and_freezes_the_heap() -> None:
    element_model.cache_clear()
    frozen_before = gc.get_freeze_count()
    try:
        prepare_to_serve()
        assert gc.get_freeze_count() > frozen_before + 100_000
        assert element_model.cache_info().currsize > 100  # every resource type's model
    finally:
        gc.unfreeze()  # this test process builds many apps: let the collector see them again


def test_gunicorn_worker_serves_reads_and_flushes_its_audit_at_shutdown(
    app: Flask, fhir: FhirClient, db: sa.Engine, tmp_path: Path
) -> None:
    patient = fhir.create({"resourceType": "Patient", "name": [{"family": "Served"}]})
    reference = f"Patient/{patient['id']}"
    port = _free_port()
    env = {
        **os.environ,
        "FIRESIDE_DATABASE_URL": app.extensions["fireside"].settings.database_url,
        "FIRESIDE_BASE_URL": BASE,
        "FIRESIDE_AUDIT_FLUSH_MS": "3600000",  # nothing written before shutdown
    }
    log = tmp_path / "server.log"
    command = [sys.executable, "manage.py", "run", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", "1", "--no-migrate"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/fhir/{reference}",
            headers={"Authorization": f"Bearer {issue_token(app)}"},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    body = json.load(resp)
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert body["id"] == patient["id"]
        assert _audited_reads(db, reference) == 0  # buffered in the worker
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    assert _audited_reads(db, reference) == 1, log.read_text()


def test_gunicorn_worker_boots_while_the_database_is_away(tmp_path: Path) -> None:
    port, dead_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "FIRESIDE_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{dead_port}/none",
        "FIRESIDE_BASE_URL": BASE,
    }
    log = tmp_path / "server.log"
    command = [sys.executable, "manage.py", "run", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", "1", "--no-migrate"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                    raise AssertionError("ready without a database")
            except urllib.error.HTTPError as exc:
                assert exc.code == 503, log.read_text()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
