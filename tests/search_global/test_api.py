"""``GET /api/search``: the response shape, paging, bad input, odd input, OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest

from platform_core.plugin_api import SearchDocument
from search.backend import SearchUnavailable
from tests.conftest import issue_token

PROBLEM = "application/problem+json"


def get(app, headers: dict[str, str] | None = None, **params: Any):
    return app.test_client().get("/api/search", query_string=params, headers=headers or {})


@pytest.fixture
def catalog(search_service):
    docs = [
        SearchDocument(
            "medication",
            f"m{i}",
            f"Vitamin D3 {i * 100} IU drops",
            "For bones",
            url=f"Medication/m{i}",
        )
        for i in range(1, 26)
    ]
    docs += [
        SearchDocument("practitioner", "d1", "Dr Vita Brown", "Nutrition and vitamin advice"),
        SearchDocument("patient", "p1", "Vitaly Smith", "", patient_id="p1", url="Patient/p1"),
    ]
    search_service.backend.index(docs)
    search_service.backend.refresh()
    return search_service


def test_results_are_ranked_mixed_highlighted_and_faceted(app, catalog):
    resp = get(app, q="vitamin", size=5)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "private, no-store"
    body = resp.get_json()
    assert body["query"] == "vitamin" and body["page"] == 1 and body["size"] == 5
    assert body["total"] == 26 and body["total_exact"] is True
    assert body["facets"] == {"kind": {"medication": 25, "practitioner": 1}}
    hit = body["hits"][0]
    assert set(hit) == {"kind", "id", "title", "url", "score", "highlights", "fields"}
    assert hit["kind"] == "medication" and "<mark>Vitamin</mark>" in hit["highlights"]["title"][0]
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_paging_links(app, catalog):
    first = get(app, q="vitamin", size=10).get_json()
    assert first["links"]["prev"] is None
    assert first["links"]["self"] == "/api/search?q=vitamin&page=1&size=10"
    second = app.test_client().get(first["links"]["next"]).get_json()
    third = app.test_client().get(second["links"]["next"]).get_json()
    assert third["links"]["next"] is None and third["links"]["prev"] == second["links"]["self"]
    seen = [h["id"] for page in (first, second, third) for h in page["hits"]]
    assert len(seen) == len(set(seen)) == 26


def test_types_narrow_the_hits_but_not_the_facets(app, catalog):
    body = get(app, q="vitamin", types="practitioner").get_json()
    assert [h["id"] for h in body["hits"]] == ["d1"] and body["total"] == 1
    assert body["facets"]["kind"] == {"medication": 25, "practitioner": 1}
    assert "types=practitioner" in body["links"]["self"]
    assert get(app, q="vitamin", types="practitioner, medication").get_json()["total"] == 26


def test_prefix_and_typos(app, catalog):
    assert get(app, q="Dr vi").get_json()["hits"][0]["id"] == "d1"
    assert get(app, q="nutriton").get_json()["hits"][0]["id"] == "d1"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 1_001}, "q"),
        ({"q": "x" * 10_240}, "q"),
        ({"q": "a", "types": "patient,spaceship"}, "types"),
        ({"q": "a", "size": 0}, "size"),
        ({"q": "a", "size": 101}, "size"),
        ({"q": "a", "size": "ten"}, "size"),
        ({"q": "a", "page": 0}, "page"),
        ({"q": "a", "page": -1}, "page"),
        ({"q": "a", "page": 11, "size": 100}, "page"),
        ({"q": "a", "page": 10_000_000_000}, "page"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(app, search_service, params, parameter):
    resp = get(app, **params)
    assert resp.status_code == 400, resp.get_json()
    assert resp.mimetype == PROBLEM
    body = resp.get_json()
    assert body["status"] == 400 and parameter in body["errors"]["query"], body


@pytest.mark.parametrize(
    "q",
    [
        '"vitamin',
        '""',
        "vitamin*",
        "title:vitamin",
        "(vitamin) OR 1=1",
        "💊",
        "維他命",
        "-vitamin",
        "\\",
        "%",
        "vitamin -",
        "a" * 1_000,
        "<script>alert(1)</script>",
        "\u0000",
    ],
)
def test_odd_text_never_fails(app, catalog, q):
    resp = get(app, q=q)
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "application/json"
    assert "<script>" not in str(resp.get_json()["hits"])


def test_unknown_parameters_are_ignored(app, catalog):
    assert get(app, q="vitamin", _=123).status_code == 200


def test_a_bad_token_is_a_401_problem(app, catalog):
    resp = get(app, {"Authorization": "Bearer not-a-token"}, q="vitamin")
    assert resp.status_code == 401 and resp.mimetype == PROBLEM


def test_a_valid_token_is_accepted(app, catalog):
    token = issue_token(app, "system/*.rs")
    resp = get(app, {"Authorization": f"Bearer {token}"}, q="vitaly")
    assert resp.status_code == 200 and resp.get_json()["total"] == 1


def test_an_unreachable_backend_is_a_503(app, catalog, monkeypatch):
    def down(query):
        raise SearchUnavailable("elasticsearch unreachable: ConnectionError")

    monkeypatch.setattr(catalog.backend, "search", down)
    resp = get(app, q="vitamin")
    assert resp.status_code == 503 and resp.mimetype == PROBLEM


def test_the_endpoint_is_in_the_openapi_document(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/search"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"q", "types", "page", "size"} <= names
    assert {"200", "400", "401", "503"} <= set(operation["responses"])
