"""The database going away mid-service: 503 with an OperationOutcome, then recovery without a
restart once it is back. Needs a networked database (PostgreSQL)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url
from support.tcp_proxy import TcpProxy

from platform_core.app import create_app

pytestmark = pytest.mark.skipif(
    not os.environ.get("FIRESIDE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="needs PostgreSQL over TCP",
)


def test_database_outage_answers_503_then_recovers(app):
    url = make_url(os.environ["FIRESIDE_TEST_DATABASE_URL"])
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.restore()
    proxied = create_app(
        {"database_url": url.set(port=proxy.port).render_as_string(False), "base_url": "http://t"}
    )
    client = proxied.test_client()
    token, _ = proxied.extensions["fireside"].auth.tokens.issue(
        client_id="outage-test", scope="system/*.cruds"
    )
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"}
    try:
        created = client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=headers)
        assert created.status_code == 201
        pid = created.get_json()["id"]

        proxy.cut()
        down = client.get(f"/fhir/Patient/{pid}", headers=headers)
        assert down.status_code == 503
        outcome = down.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "transient"
        assert down.headers["Retry-After"]
        write = client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=headers)
        assert write.status_code == 503
        assert proxied.test_client().get("/readyz").status_code == 503

        proxy.restore()
        assert client.get(f"/fhir/Patient/{pid}", headers=headers).status_code == 200
        assert proxied.test_client().get("/readyz").status_code == 200
    finally:
        proxy.cut()
        proxied.extensions["fireside"].dispose()
