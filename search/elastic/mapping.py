"""Index names, the index template and the document shape in Elasticsearch.

All kinds share one index with a ``kind`` keyword field, rather than an index per kind:
a search box ranks mixed kinds together, which needs one set of term statistics (scores of
separate indexes are not comparable); the kind facet is one ``terms`` aggregation; a full
rebuild swaps one alias; and plugins adding kinds add no indexes or shards. Each kind's
documents have the same fields, so nothing is lost by sharing the mapping.

Names, with ``prefix`` = ``search_index_prefix``: searches and writes go through the alias
``{prefix}-search``; the indexes behind it are ``{prefix}-search-v{generation}``, created from
the template ``{prefix}-search``; during a full rebuild the alias ``{prefix}-search-building``
names the index being built, so writes made meanwhile reach it too.
"""

from __future__ import annotations

from typing import Any

from platform_core.plugin_api import SearchDocument

TEXT_FIELDS = ("title^3", "keywords^2", "body")
"""Searched fields and their boosts (the embedded backend weighs them alike)."""


def alias(prefix: str) -> str:
    return f"{prefix}-search"


def building_alias(prefix: str) -> str:
    return f"{prefix}-search-building"


def index_name(prefix: str, generation: int) -> str:
    return f"{prefix}-search-v{generation}"


def template(prefix: str) -> dict[str, Any]:
    """The body of the index template (``indices.put_index_template``)."""
    text = {"type": "text", "analyzer": "folded"}
    return {
        "index_patterns": [f"{prefix}-search-v*"],
        "template": {
            "settings": {
                "number_of_shards": 1,
                "analysis": {
                    "analyzer": {
                        "folded": {
                            "type": "custom",
                            "tokenizer": "standard",
                            "filter": ["lowercase", "asciifolding"],
                        }
                    }
                },
            },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "kind": {"type": "keyword"},
                    "doc_id": {"type": "keyword"},
                    "title": text,
                    "keywords": text,
                    "body": text,
                    "url": {"type": "keyword", "index": False},
                    "patient_id": {"type": "keyword"},
                    "generation": {"type": "long"},
                    "fields": {"type": "object", "enabled": False},
                },
            },
        },
    }


def source(doc: SearchDocument, generation: int) -> dict[str, Any]:
    """The stored form of a document."""
    body: dict[str, Any] = {
        "kind": doc.kind,
        "doc_id": doc.id,
        "title": doc.title,
        "keywords": "\n".join(doc.keywords),
        "body": doc.body,
        "url": doc.url,
        "generation": generation,
        "fields": doc.fields,
    }
    if doc.patient_id is not None:
        body["patient_id"] = doc.patient_id
    return body


def doc_key(kind: str, doc_id: str) -> str:
    """The Elasticsearch ``_id``: kind and id, unique across kinds."""
    return f"{kind}:{doc_id}"
