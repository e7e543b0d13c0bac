"""A :class:`~search.backend.SearchQuery` as an Elasticsearch search body.

The parsed query (:mod:`search.analysis`) is rebuilt in the query DSL, never handed to a
query-string parser, so the user's text cannot inject syntax. Each bare word must match in
some field (``title^3``, ``keywords^2``, ``body``): exactly, with ``fuzziness`` (one edit, two
for words of 8+ letters: the embedded backend's rule), or, for the last word, as a prefix
(``bool_prefix``). Phrases are ``phrase`` matches, exclusions ``must_not``. Visibility is a
``filter`` inside the query, so totals and the kind facet count only what the caller may
see; the ``kinds`` choice is a ``post_filter``, so the facet still counts every kind.
"""

from __future__ import annotations

from typing import Any

from search.analysis import allowed_edits
from search.backend import TOTAL_CAP, SearchQuery, Visibility
from search.elastic.mapping import TEXT_FIELDS

MARK = {"pre_tags": ["<mark>"], "post_tags": ["</mark>"], "encoder": "html"}
SOURCE_FIELDS = ["kind", "doc_id", "title", "url", "fields"]


def _match(text: str, **options: Any) -> dict[str, Any]:
    return {"multi_match": {"query": text, "fields": list(TEXT_FIELDS), **options}}


def _word(word: str, *, prefix: bool, typos: bool) -> dict[str, Any]:
    options = [_match(word, boost=2.0)]
    edits = allowed_edits(word) if typos else 0
    if edits:
        options.append(_match(word, fuzziness=edits, prefix_length=0, max_expansions=50))
    if prefix:
        options.append(_match(word, type="bool_prefix"))
    return {"bool": {"should": options, "minimum_should_match": 1}}


def visibility_filter(visibility: Visibility) -> dict[str, Any] | None:
    """The documents ``visibility`` lets through, or None for all of them."""
    if visibility.everything:
        return None
    allowed: list[dict[str, Any]] = [{"bool": {"must_not": {"exists": {"field": "patient_id"}}}}]
    for kinds, patients in visibility.groups():
        kind_match: dict[str, Any] = {"terms": {"kind": list(kinds)}}
        if patients is None:
            allowed.append(kind_match)
        else:
            allowed.append(
                {"bool": {"filter": [kind_match, {"terms": {"patient_id": sorted(patients)}}]}}
            )
    return {"bool": {"should": allowed, "minimum_should_match": 1}}


def search_body(query: SearchQuery) -> dict[str, Any]:
    """The request body of ``_search`` for ``query``."""
    parsed = query.parsed
    prefix = parsed.prefix_word(query.prefix)
    must = [_word(w, prefix=w == prefix, typos=query.typos) for w in parsed.words]
    must += [_match(" ".join(p), type="phrase") for p in parsed.phrases]
    must_not = [_match(" ".join(p), type="phrase") for p in parsed.excluded]
    condition: dict[str, Any] = {"must": must, "must_not": must_not}
    visible = visibility_filter(query.visibility)
    if visible is not None:
        condition["filter"] = [visible]
    body: dict[str, Any] = {
        "query": {"bool": condition},
        "from": query.offset,
        "size": query.size,
        "track_total_hits": TOTAL_CAP,
        "_source": SOURCE_FIELDS,
        "sort": ["_score", {"kind": "asc"}, {"doc_id": "asc"}],
    }
    if query.kinds is not None:
        body["post_filter"] = {"terms": {"kind": sorted(query.kinds)}}
    if query.facets:
        body["aggs"] = {"kinds": {"terms": {"field": "kind", "size": 100}}}
    if query.highlight:
        body["highlight"] = {
            **MARK,
            "fields": {
                "title": {"number_of_fragments": 0},
                "body": {"fragment_size": 160, "number_of_fragments": 1},
            },
        }
    return body
