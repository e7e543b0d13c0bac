"""The contract every search backend keeps, run against each (see ``conftest.backend``):
embedded (SQLite or PostgreSQL, whichever the suite runs on), osmem-server, and a real
Elasticsearch when ``ELASTICSEARCH_URL`` is set."""

from __future__ import annotations

import pytest

from platform_core.plugin_api import SearchDocument
from search.backend import SearchQuery, SearchResult, Visibility
from tests.search_global.conftest import load

EVERYTHING = Visibility.all()


def doc(kind: str, id: str, title: str, body: str = "", *keywords: str, patient: str | None = None):
    return SearchDocument(kind, id, title, body, tuple(keywords), f"{kind}/{id}", patient)


CORPUS = [
    doc(
        "medication",
        "m1",
        "Paracetamol 500 mg tablet",
        "Analgesic for fever and mild pain",
        "acetaminophen",
    ),
    doc(
        "medication",
        "m2",
        "Ibuprofen 200 mg tablet",
        "Anti-inflammatory, an alternative to paracetamol",
    ),
    doc(
        "medication",
        "m3",
        "Amoxicillin 250 mg capsule",
        "Penicillin antibiotic for bacterial infections",
    ),
    doc("medication", "m4", "Insulin glargine injection", "Long-acting insulin for diabetes"),
    doc("practitioner", "d1", "Dr José García", "Cardiology; heart failure clinic in Lyon"),
    doc("practitioner", "d2", "Dr Ada Lovelace", "Paediatrics and child nutrition"),
    doc("practitioner", "d3", "Dr Zoë Müller", "Dermatology: eczema and acne"),
    doc(
        "organization",
        "o1",
        "Springfield General Hospital",
        "Emergency care, cardiology, maternity",
    ),
    doc("location", "l1", "Springfield Pharmacy", "Open late; vaccines and prescriptions"),
    doc(
        "article",
        "a1",
        "Managing fever in children",
        "When to give paracetamol or ibuprofen to a child",
    ),
    doc("patient", "p1", "John Smith", "Born 1980 in Springfield; asthma", patient="p1"),
    doc("patient", "p2", "Jane Smith", "Born 1985; diabetes treated with insulin", patient="p2"),
    doc("patient", "p3", "Johnny Walker", "Born 2015", patient="p3"),
]


def find(backend, text: str, visibility: Visibility = EVERYTHING, **options) -> SearchResult:
    return backend.search(SearchQuery(text, visibility, **options))


def ids(result: SearchResult) -> list[str]:
    return [hit.id for hit in result.hits]


@pytest.fixture
def corpus(backend):
    load(backend, CORPUS)
    return backend


# --- writing ---------------------------------------------------------------------------------
def test_indexed_documents_are_found_updated_and_deleted(backend):
    load(backend, [doc("medication", "x", "Paracetamol syrup", "for children")])
    hit = find(backend, "paracetamol").hits[0]
    assert (hit.kind, hit.id, hit.title, hit.url) == (
        "medication",
        "x",
        "Paracetamol syrup",
        "medication/x",
    )
    load(backend, [doc("medication", "x", "Ibuprofen syrup", "for children")])
    assert find(backend, "paracetamol").total == 0
    assert ids(find(backend, "ibuprofen")) == ["x"]
    backend.delete("medication", ["x", "never-indexed"])
    backend.refresh()
    assert find(backend, "ibuprofen").total == 0


def test_indexing_is_idempotent_and_keyed_by_kind_and_id(backend):
    twin = doc("article", "x", "Ibuprofen guide")
    load(backend, [doc("medication", "x", "Ibuprofen syrup"), twin, twin])
    load(backend, [twin])
    result = find(backend, "ibuprofen")
    assert sorted((h.kind, h.id) for h in result.hits) == [("article", "x"), ("medication", "x")]
    backend.delete("article", ["x"])
    backend.refresh()
    assert [(h.kind, h.id) for h in find(backend, "ibuprofen").hits] == [("medication", "x")]


def test_fields_come_back_with_the_hit(backend):
    load(
        backend,
        [
            SearchDocument(
                "product", "1", "Vitamin D drops", fields={"price": 450, "tags": ["kids"]}
            )
        ],
    )
    assert find(backend, "vitamin").hits[0].fields == {"price": 450, "tags": ["kids"]}


# --- matching and ranking ----------------------------------------------------------------------
def test_title_matches_rank_above_body_matches(corpus):
    assert ids(find(corpus, "paracetamol"))[0] == "m1"
    assert set(ids(find(corpus, "paracetamol"))) == {"m1", "m2", "a1"}
    assert ids(find(corpus, "fever"))[0] == "a1"


def test_every_word_must_match_in_some_field(corpus):
    assert set(ids(find(corpus, "insulin diabetes"))) == {"m4", "p2"}
    assert ids(find(corpus, "smith asthma")) == ["p1"]
    assert find(corpus, "smith cardiology").total == 0


def test_the_last_word_matches_as_a_prefix(corpus):
    assert ids(find(corpus, "parac"))[0] == "m1"
    assert ids(find(corpus, "dr lovel")) == ["d2"]
    assert ids(find(corpus, "springfield hosp")) == ["o1"]
    assert find(corpus, "springf hosp").total == 0  # only the last word is a prefix
    assert find(corpus, "parac", prefix=False).total == 0


def test_typos_are_tolerated(corpus):
    assert ids(find(corpus, "paracetmol"))[0] == "m1"  # a letter missing
    assert ids(find(corpus, "amoxicilin")) == ["m3"]
    assert ids(find(corpus, "ibuprofne"))[0] == "m2"  # two letters swapped
    assert ids(find(corpus, "jhon smith")) == ["p1"]
    assert ids(find(corpus, "parecetamoll"))[0] == "m1"  # two edits in a long word
    assert find(corpus, "paracetmol", typos=False).total == 0


def test_an_exact_word_ranks_above_its_near_misses(backend):
    load(
        backend,
        [doc("practitioner", "a", "Dr Joan Hill"), doc("practitioner", "b", "Dr John Hill")],
    )
    assert ids(find(backend, "john hill"))[0] == "b"


def test_highlights_mark_the_matches_and_escape_the_rest(corpus):
    load(
        corpus,
        [
            doc(
                "article",
                "h",
                "Salt & <b>pepper</b> with paracetamol",
                "Mild pain: take paracetamol with water",
            )
        ],
    )
    hits = {h.id: h for h in find(corpus, "paracetamol").hits}
    assert "<mark>Paracetamol</mark>" in hits["m1"].highlights["title"][0]
    assert "<mark>paracetamol</mark>" in hits["m2"].highlights["body"][0]
    title = hits["h"].highlights["title"][0]
    assert "&amp;" in title and "&lt;b&gt;pepper&lt;" in title and "<b>" not in title
    prefixed = {h.id: h for h in find(corpus, "paracet").hits}
    assert "<mark>Paracetam" in prefixed["m1"].highlights["title"][0]
    assert "highlights" not in {
        k for h in find(corpus, "paracetamol", highlight=False).hits for k in h.highlights
    }


def test_facets_count_kinds_before_the_kinds_filter(corpus):
    everything = find(corpus, "springfield")
    assert everything.facets == {"organization": 1, "location": 1, "patient": 1}
    assert everything.total == 3 and everything.total_exact
    locations = find(corpus, "springfield", kinds=frozenset({"location"}))
    assert ids(locations) == ["l1"] and locations.total == 1
    assert locations.facets == everything.facets


def test_kinds_filter(corpus):
    assert ids(find(corpus, "paracetamol", kinds=frozenset({"article"}))) == ["a1"]
    assert set(ids(find(corpus, "paracetamol", kinds=frozenset({"article", "medication"})))) == {
        "m1",
        "m2",
        "a1",
    }
    assert find(corpus, "paracetamol", kinds=frozenset({"patient"})).total == 0


def test_paging_walks_every_hit_once(backend):
    load(backend, [doc("product", f"v{i:02}", f"Vitamin D3 drops number {i}") for i in range(25)])
    pages = [find(backend, "vitamin", page=p, size=10) for p in (1, 2, 3, 4)]
    assert [len(p.hits) for p in pages] == [10, 10, 5, 0]
    assert all(p.total == 25 for p in pages)
    seen = [i for p in pages for i in ids(p)]
    assert sorted(seen) == sorted(f"v{i:02}" for i in range(25))


# --- visibility ----------------------------------------------------------------------------
def test_public_callers_never_see_private_documents(corpus):
    public = find(corpus, "smith", Visibility.public_only())
    assert public.total == 0 and public.hits == [] and public.facets == {}
    springfield = find(corpus, "springfield", Visibility.public_only())
    assert springfield.facets == {"organization": 1, "location": 1}


def test_a_patient_sees_their_own_private_documents_only(corpus):
    mine = Visibility(private={"patient": frozenset({"p1"})})
    result = find(corpus, "smith", mine)
    assert ids(result) == ["p1"] and result.total == 1 and result.facets == {"patient": 1}
    guardian = Visibility(private={"patient": frozenset({"p1", "p3"})})
    assert set(ids(find(corpus, "john", guardian))) == {"p1", "p3"}
    other_kind = Visibility(private={"article": None})
    assert find(corpus, "smith", other_kind).total == 0
    nobody = Visibility(private={"patient": frozenset()})
    assert find(corpus, "smith", nobody).total == 0
    assert set(ids(find(corpus, "smith", Visibility(private={"patient": None})))) == {"p1", "p2"}


# --- odd input -----------------------------------------------------------------------------
def test_unicode_is_folded_on_both_sides(corpus):
    for text in ("zoe muller", "Zoë Müller", "ZOË MÜLLER", "MULLER"):
        assert ids(find(corpus, text)) == ["d3"], text
    assert ids(find(corpus, "garcia")) == ["d1"]
    for text in ("💊", "東京 病院", "مستشفى", "\u0000", "\u200b", "e\u0301"):
        assert isinstance(find(corpus, text), SearchResult)
    assert ids(find(corpus, "💊 amoxicillin")) == ["m3"]


def test_quotes_make_phrases_and_never_break_a_query(corpus):
    assert ids(find(corpus, '"heart failure"')) == ["d1"]
    assert find(corpus, '"failure heart"').total == 0
    assert ids(find(corpus, '"heart failure')) == ["d1"]  # an unclosed quote runs to the end
    for text in ('"', '""', "'", '"\'"', 'heart "', "d'arc"):
        assert isinstance(find(corpus, text), SearchResult), text


def test_operator_characters_are_plain_text(corpus):
    assert ids(find(corpus, "paracetamol -ibuprofen")) == ["m1"]
    assert ids(find(corpus, "amoxicillin*")) == ["m3"]
    assert ids(find(corpus, "(amoxicillin)")) == ["m3"]
    for text in (
        "title:paracetamol",
        "paracetamol^2",
        "NEAR(paracetamol fever)",
        "paracetamol OR ibuprofen",
        "paracetamol AND NOT ibuprofen",
        "-",
        "--paracetamol",
        "\\",
        "%_",
        "{}[]~",
        "&|!<->:*",
        "a:*",
        "' OR 1=1 --",
        "/paracetamol/",
        "paracetamol~2",
    ):
        assert isinstance(find(corpus, text), SearchResult), text


def test_exclusions_alone_and_empty_text_find_nothing(corpus):
    for text in ("", "   ", "-paracetamol", "!!!", '-"heart failure"'):
        result = find(corpus, text)
        assert result.total == 0 and result.hits == [], text


def test_very_long_queries_get_an_answer(corpus):
    for text in (
        "paracetamol " + "x" * 10_240,
        "paracetamol " * 1_000,
        "é" * 10_240,
        '"' * 5_000 + "-" * 5_000,
        " ".join(f"w{i}" for i in range(2_000)),
    ):
        assert isinstance(find(corpus, text), SearchResult)
    assert ids(find(corpus, "amoxicillin " * 1_000)) == ["m3"]


def test_health_is_none_when_the_backend_answers(backend):
    assert backend.health() is None


# --- rebuilds ------------------------------------------------------------------------------
def test_a_full_rebuild_replaces_the_index_without_a_gap(backend):
    load(
        backend,
        [doc("medication", "old", "Quinine tablets"), doc("medication", "kept", "Quinine syrup")],
    )
    rebuild = backend.start_rebuild(None)
    rebuild.bulk_index(
        [
            doc("medication", "kept", "Quinine syrup for children"),
            doc("article", "new", "Quinine history"),
        ]
    )
    backend.index([doc("product", "live", "Quinine tonic water")])  # written during the rebuild
    backend.refresh()
    assert "kept" in ids(find(backend, "quinine"))  # searches keep answering meanwhile
    rebuild.finish()
    backend.refresh()
    assert sorted(ids(find(backend, "quinine"))) == ["kept", "live", "new"]
    assert find(backend, "children").hits[0].id == "kept"


def test_rebuilding_some_kinds_leaves_the_others_alone(backend):
    load(
        backend,
        [
            doc("medication", "m", "Artemether tablets"),
            doc("article", "a", "Artemether and malaria"),
        ],
    )
    rebuild = backend.start_rebuild(["article"])
    rebuild.bulk_index([doc("article", "b", "Artemether dosing")])
    rebuild.finish()
    backend.refresh()
    assert sorted(ids(find(backend, "artemether"))) == ["b", "m"]


def test_an_aborted_rebuild_changes_nothing_visible(backend):
    load(backend, [doc("medication", "m", "Primaquine tablets")])
    rebuild = backend.start_rebuild(None)
    rebuild.abort()
    backend.refresh()
    assert ids(find(backend, "primaquine")) == ["m"]
