"""The Elasticsearch client, and what it takes to talk to OpenSearch-compatible servers.

The official client (9.x) sends versioned media types (``Accept: application/vnd.elasticsearch
+json; compatible-with=9``) and refuses any 2xx answer without ``X-Elastic-Product:
Elasticsearch`` (its product check). Against Elasticsearch both stay exactly as they are.
With ``elasticsearch_compatibility = "opensearch"`` (a ``settings.extra`` key, for OpenSearch
or the osmem-server test emulator), :class:`OpenSearchNode` sends plain ``application/json``
and ``application/x-ndjson`` instead, and supplies the product header only on answers of a
server that said, on the first request, that it is OpenSearch; an Elasticsearch behind that
setting is refused, so the setting cannot quietly weaken the check against the real thing.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from elastic_transport import HttpHeaders, Urllib3HttpNode
from elastic_transport._node import NodeApiResponse
from elasticsearch import Elasticsearch

COMPATIBILITY_KEY = "elasticsearch_compatibility"
"""``settings.extra`` key: ``elasticsearch`` (default) or ``opensearch``."""
_VERSIONED = re.compile(r"application/vnd\.elasticsearch\+([\w-]+);\s*compatible-with=\d+")


class NotOpenSearch(Exception):
    """``opensearch`` compatibility was asked for, but the server is not OpenSearch."""


class OpenSearchNode(Urllib3HttpNode):
    """An HTTP node for OpenSearch-compatible servers (see the module docstring)."""

    _verified = False
    """Set per node once the server has said it is OpenSearch."""

    def perform_request(  # type: ignore[override]
        self, method: str, target: str, body: bytes | None = None, headers: Any = None, **kw: Any
    ) -> NodeApiResponse:
        plain = HttpHeaders(headers or {})
        for name in ("accept", "content-type"):
            if name in plain:
                plain[name] = _VERSIONED.sub(r"application/\1", plain[name])
        if not self._verified:
            self._verify()
        response = super().perform_request(method, target, body=body, headers=plain, **kw)
        if "x-elastic-product" in response.meta.headers:
            return response
        answered = HttpHeaders(response.meta.headers)
        answered["x-elastic-product"] = "Elasticsearch"
        return NodeApiResponse(dataclasses.replace(response.meta, headers=answered), response.body)

    def _verify(self) -> None:
        """Ask the server what it is, once; refuse anything but OpenSearch."""
        response = super().perform_request("GET", "/", headers={"accept": "application/json"})
        try:
            info = json.loads(response.body)
            distribution = info.get("version", {}).get("distribution", "elasticsearch")
        except (ValueError, AttributeError):
            distribution = "unknown"
        if 200 <= response.meta.status < 300 and distribution != "opensearch":
            raise NotOpenSearch(
                f"{COMPATIBILITY_KEY} is 'opensearch' but the server says it is "
                f"{distribution!r}; remove the setting for Elasticsearch"
            )
        self._verified = response.meta.status < 300 and distribution == "opensearch"


def make_client(url: str, compatibility: str = "elasticsearch", **options: Any) -> Elasticsearch:
    """A client for ``url``; ``compatibility`` is ``elasticsearch`` or ``opensearch``."""
    if compatibility not in {"elasticsearch", "opensearch"}:
        raise ValueError(f"{COMPATIBILITY_KEY} must be 'elasticsearch' or 'opensearch'")
    options.setdefault("request_timeout", 10)
    options.setdefault("max_retries", 1)
    options.setdefault("retry_on_timeout", False)
    if compatibility == "opensearch":
        options["node_class"] = OpenSearchNode
    return Elasticsearch(url, **options)
