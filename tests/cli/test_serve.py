"""``manage.py run --workers N``: gunicorn workers that freeze their start-up heap, boot
without their database, serve FHIR reads, close a connection at once only when nothing of
the request is left unread, and write the audit records they buffered when stopped."""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from pathlib import Path

import pytest
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


@contextlib.contextmanager
def _server(tmp_path: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``manage.py run --workers 1`` on a free port with ``env`` (``FIRESIDE_*``) added;
    yields the process, its port and its log; SIGTERM to its process group at the end."""
    port = _free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "manage.py", "run", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", "1", "--no-migrate"],
        cwd=REPO_ROOT,
        env={**os.environ, "FIRESIDE_BASE_URL": BASE, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc, port, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def _exchange(port: int, request: bytes) -> tuple[socket.socket, bytes]:
    """Send ``request`` on a new connection and read until the server closes its side;
    returns the socket, still open on this side, and the response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return sock, b"".join(chunks)


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
    database_url = app.extensions["fireside"].settings.database_url
    # An hour between audit flushes: nothing is written before the shutdown.
    with _server(
        tmp_path, FIRESIDE_DATABASE_URL=database_url, FIRESIDE_AUDIT_FLUSH_MS="3600000"
    ) as (proc, port, log):
        _wait_until_serving(proc, port, log)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/fhir/{reference}",
            headers={"Authorization": f"Bearer {issue_token(app)}"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            body = json.load(resp)
        assert body["id"] == patient["id"]
        assert _audited_reads(db, reference) == 0  # buffered in the worker
    assert _audited_reads(db, reference) == 1, log.read_text()


def test_gunicorn_worker_boots_while_the_database_is_away(tmp_path: Path) -> None:
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/none"
    with _server(tmp_path, FIRESIDE_DATABASE_URL=nowhere) as (proc, port, log):
        _wait_until_serving(proc, port, log)  # /healthz: the process is alive
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert refused.value.code == 503


def test_a_request_read_to_its_end_is_closed_without_waiting_for_the_client(
    app: Flask, tmp_path: Path
) -> None:
    database_url = app.extensions["fireside"].settings.database_url
    with _server(tmp_path, FIRESIDE_DATABASE_URL=database_url) as (proc, port, log):
        _wait_until_serving(proc, port, log)
        get = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        first, response = _exchange(port, get)
        try:
            assert response.startswith(b"HTTP/1.1 200"), response
            # The one worker is free again although `first` is still open: the staged
            # close would hold it until this side closes, or for two seconds.
            second = socket.create_connection(("127.0.0.1", port), timeout=1.0)
            with second:
                second.sendall(get)
                assert second.recv(65536).startswith(b"HTTP/1.1 200"), log.read_text()
        finally:
            first.close()


def test_unread_request_bytes_keep_the_staged_close_and_the_response_arrives(
    app: Flask, db: sa.Engine, tmp_path: Path
) -> None:
    database_url = app.extensions["fireside"].settings.database_url
    with _server(tmp_path, FIRESIDE_DATABASE_URL=database_url, FIRESIDE_MAX_BODY_BYTES="1000") as (
        proc,
        port,
        log,
    ):
        _wait_until_serving(proc, port, log)
        body = json.dumps({"resourceType": "Patient", "text": {"div": "x" * 60_000}}).encode()
        head = (
            "POST /fhir/Patient HTTP/1.1\r\nHost: t\r\n"
            f"Content-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock, response = _exchange(port, head.encode() + body)  # no reset: it reads through
        sock.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"OperationOutcome" in response
    with db.connect() as conn:
        patients = conn.execute(
            sa.text("SELECT count(*) FROM fhir_resource WHERE resource_type = 'Patient'")
        ).scalar_one()
    assert patients == 0
