"""On the embedded backend a FHIR write indexes its resource inside its own transaction
(``search.index_resource`` runs ``in_write``): searchable at commit, no outbox row, nothing
indexed when the write rolls back, and concurrent writes of the same new words neither
wait on each other in a cycle nor fail."""

from __future__ import annotations

import random
import threading
from typing import Any

import sqlalchemy as sa

from platform_core.jobs.schema import job_table
from search.backend import SearchQuery, Visibility
from search.jobs import INDEX_RESOURCE
from tests.conftest import FhirClient, issue_token


def _titles(service: Any, text: str) -> list[str]:
    result = service.backend.search(SearchQuery(text, Visibility.all(), size=50))
    return sorted(hit.title for hit in result.hits)


def _index_jobs(db: sa.Engine) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(job_table)
                .where(job_table.c.name == INDEX_RESOURCE)
            ).scalar_one()
        )


def _practitioner(given: str, family: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "name": [{"given": [given], "family": family}]}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


def test_a_write_is_searchable_at_its_commit_without_an_outbox_row(app, fhir, search_service):
    db = app.extensions["fireside"].db
    before = _index_jobs(db)
    created = fhir.create(_practitioner("Ottoline", "Quennell"))
    assert _titles(search_service, "quennell") == ["Ottoline Quennell"]
    created["name"][0]["family"] = "Morrell"
    assert fhir.put(f"Practitioner/{created['id']}", created).status_code == 200
    assert _titles(search_service, "quennell") == []
    assert _titles(search_service, "morrell") == ["Ottoline Morrell"]
    assert fhir.delete(f"Practitioner/{created['id']}").status_code in (200, 204)
    assert _titles(search_service, "morrell") == []
    assert _index_jobs(db) == before


def test_a_rolled_back_transaction_bundle_indexes_nothing(app, fhir, search_service):
    db = app.extensions["fireside"].db
    before = _index_jobs(db)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry(_practitioner("Wilhelmina", "Xanthopoulos")),
            # Fails after the first entry was written and indexed: the PUT's If-Match names
            # a version that does not exist.
            {
                "resource": {"resourceType": "Patient", "id": "never-there"},
                "request": {"method": "PUT", "url": "Patient/never-there", "ifMatch": 'W/"9"'},
            },
        ],
    }
    resp = fhir.post("", bundle)
    assert resp.status_code in (409, 412), resp.get_json()
    assert _titles(search_service, "xanthopoulos") == []
    assert fhir.get("Practitioner?family=Xanthopoulos").get_json().get("entry", []) == []
    assert _index_jobs(db) == before


class _Forgetful(set):
    """A vocabulary memory that keeps nothing: each request then behaves like one from
    another process, which does not know the words this one just stored."""

    def update(self, *_words: Any) -> None:
        return None


def test_concurrent_bundles_with_the_same_new_words_all_commit(app, search_service, monkeypatch):
    """Each bundle adds the same fresh surnames in its own order, entry by entry. On
    PostgreSQL the words are stored apart from the write (one sorted, self-committing
    statement), so no bundle waits on another's uncommitted words, let alone deadlocks
    (with the words in the write's transaction this failed with a deadlock)."""
    monkeypatch.setattr(search_service.backend.vocabulary, "_known", _Forgetful())
    words = [f"Zq{chr(97 + i)}{chr(97 + j)}ovich" for i in range(5) for j in range(5)]
    threads, statuses = 8, []
    lock = threading.Lock()
    token = issue_token(app)

    def post(seed: int) -> None:
        order = words[:]
        random.Random(seed).shuffle(order)
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [_entry(_practitioner(f"T{seed}", w)) for w in order],
        }
        status = FhirClient(app.test_client(), token).post("", bundle).status_code
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=post, args=(seed,)) for seed in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert statuses == [200] * threads
    for w in words[:3]:
        assert len(_titles(search_service, w.lower())) == threads


def test_a_write_whose_indexing_fails_answers_500_and_writes_nothing(
    app, fhir, search_service, monkeypatch
):
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the document table is broken")

    monkeypatch.setattr(search_service.backend, "index", broken)
    resp = fhir.post("Practitioner", _practitioner("Perpetua", "Vandersloot"))
    assert resp.status_code == 500
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert "document table" not in resp.get_data(as_text=True)  # no internals leak
    monkeypatch.undo()
    assert fhir.get("Practitioner?family=Vandersloot").get_json().get("entry", []) == []
    assert _titles(search_service, "vandersloot") == []


def test_a_document_of_known_words_stores_no_words(app, fhir, search_service, monkeypatch):
    """Words are stored once: a second document with the same words neither checks out
    the words' own connection (PostgreSQL) nor sends a statement for them."""
    backend = search_service.backend
    stored: list[list[str]] = []
    real_store = backend.vocabulary.store
    monkeypatch.setattr(
        backend.vocabulary,
        "store",
        lambda conn, fresh: stored.append(fresh) or real_store(conn, fresh),
    )
    checkouts: list[object] = []

    def checked_out(conn: object) -> None:
        checkouts.append(conn)

    if backend.words_engine is not None:
        sa.event.listen(backend.words_engine, "engine_connect", checked_out)
    try:
        fhir.create(_practitioner("Euphrosyne", "Quarrington"))
        assert stored and {"euphrosyne", "quarrington"} <= set(stored[-1])
        stored.clear()
        checkouts.clear()
        fhir.create(_practitioner("Euphrosyne", "Quarrington"))
    finally:
        if backend.words_engine is not None:
            sa.event.remove(backend.words_engine, "engine_connect", checked_out)
    assert stored == [] and checkouts == []
    assert len(_titles(search_service, "quarrington")) == 2
