"""The client's product check and media types: untouched for Elasticsearch, relaxed only
for a server that says it is OpenSearch (against a fake server that records requests)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from elasticsearch import UnsupportedProductError

from search.elastic.backend import ElasticsearchBackend
from search.elastic.client import NotOpenSearch, make_client


class FakeCluster(ThreadingHTTPServer):
    def __init__(self, distribution: str, product_header: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.distribution = distribution
        self.product_header = product_header
        self.seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeCluster

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.path.startswith("/_cluster/health"):
            body: dict[str, Any] = {"status": "green"}
        else:
            body = {"version": {"number": "2.0", "distribution": self.server.distribution}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.server.product_header:
            self.send_header("X-Elastic-Product", "Elasticsearch")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def cluster() -> Iterator[Any]:
    started: list[FakeCluster] = []

    def start(distribution: str, product_header: bool) -> FakeCluster:
        server = FakeCluster(distribution, product_header)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_elasticsearch_mode_keeps_versioned_media_types_and_the_product_check(cluster):
    real = cluster("elasticsearch", product_header=True)
    make_client(real.url).info()
    assert "compatible-with=" in real.seen[-1]["accept"]
    impostor = cluster("opensearch", product_header=False)
    with pytest.raises(UnsupportedProductError):
        make_client(impostor.url).info()


def test_opensearch_mode_sends_plain_json_to_an_opensearch_server(cluster):
    server = cluster("opensearch", product_header=False)
    client = make_client(server.url, "opensearch")
    assert client.info()["version"]["distribution"] == "opensearch"
    assert all(seen["accept"] == "application/json" for seen in server.seen)
    assert ElasticsearchBackend(client).health() is None


def test_opensearch_mode_refuses_an_elasticsearch_server(cluster):
    real = cluster("elasticsearch", product_header=True)
    with pytest.raises(NotOpenSearch):
        make_client(real.url, "opensearch").info()
    assert "elasticsearch" in ElasticsearchBackend(make_client(real.url, "opensearch")).health()


def test_an_unknown_compatibility_is_refused():
    with pytest.raises(ValueError, match="elasticsearch_compatibility"):
        make_client("http://127.0.0.1:9", "solr")


def test_a_backend_without_a_url_is_unready_not_broken():
    assert ElasticsearchBackend(None).health() == "elasticsearch_url is not set"
