"""The pieces under the backends: query parsing, typo distance, highlighting, and the
documents made from FHIR resources."""

from __future__ import annotations

import pytest

from search.analysis import (
    MAX_TERMS,
    ParsedQuery,
    allowed_edits,
    deletion_keys,
    edit_distance,
    parse_query,
    words,
)
from search.documents import (
    document_from_payload,
    document_payload,
    medication_document,
    narrative,
    organization_document,
    patient_document,
    practitioner_document,
)
from search.highlight import Matcher, highlight_whole, snippet


# --- query syntax ----------------------------------------------------------------------------
def test_words_are_folded_runs_of_letters_and_digits():
    assert words("Zoë  Müller-Smith, 500mg_x! B12") == [
        "zoe",
        "muller",
        "smith",
        "500mg",
        "x",
        "b12",
    ]


def test_phrases_exclusions_and_plain_words():
    parsed = parse_query('heart "kidney failure" -smoker -"type 2" Dr.')
    assert parsed == ParsedQuery(
        words=("heart", "dr"),
        phrases=(("kidney", "failure"),),
        excluded=(("smoker",), ("type", "2")),
    )
    assert parsed.prefix_word() == "dr" and parsed.prefix_word(False) is None
    assert parse_query("a").prefix_word() is None  # one letter is no prefix


@pytest.mark.parametrize("text", ["", "   ", "!!! ???", "-only", '""', '"', "💊", "\x00"])
def test_text_without_positive_words_is_empty(text):
    assert parse_query(text).empty


def test_operators_of_the_engines_are_just_words():
    assert parse_query("title:paracetamol AND (NEAR* OR x^2)").words == (
        "title",
        "paracetamol",
        "and",
        "near",
        "or",
        "x",
        "2",
    )


def test_long_text_is_cut_to_max_terms():
    parsed = parse_query(" ".join(f"w{i}" for i in range(100)))
    assert len(parsed.words) == MAX_TERMS and parsed.truncated
    assert not parse_query("a b c").truncated
    assert len(parse_query("x" * 10_000).words[0]) == 64


# --- typos -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("john", "jhon", 1),
        ("paracetamol", "paracetmol", 1),
        ("kitten", "sitting", 3),
        ("abc", "abc", 0),
        ("ibuprofen", "ibuprofne", 1),
        ("parecetamoll", "paracetamol", 2),
    ],
)
def test_edit_distance_counts_a_swap_as_one_edit(a, b, distance):
    assert edit_distance(a, b, 3) == distance
    assert edit_distance(a, b, distance - 1) == distance if distance else True


def test_allowed_edits_grow_with_the_word():
    assert [allowed_edits(w) for w in ("abc", "abcd", "abcdefg", "abcdefgh", "12345")] == [
        0,
        1,
        1,
        2,
        0,
    ]


def test_words_one_edit_apart_share_a_deletion_key():
    for a, b in (("john", "jhon"), ("john", "joan"), ("john", "johns"), ("smith", "smyth")):
        assert deletion_keys(a) & deletion_keys(b)


# --- highlighting ---------------------------------------------------------------------------
def test_highlighting_marks_folded_matches_and_escapes_html():
    match = Matcher({"zoe"}, prefix="mul")
    assert (
        highlight_whole("Dr <Zoë> Müller", match)
        == "Dr &lt;<mark>Zoë</mark>&gt; <mark>Müller</mark>"
    )
    assert highlight_whole("nothing here", match) is None


def test_snippets_centre_on_the_matches():
    text = "filler " * 60 + "the paracetamol dose " + "filler " * 60
    cut = snippet(text, Matcher({"paracetamol"}))
    assert cut.startswith("…") and cut.endswith("…") and "<mark>paracetamol</mark>" in cut
    assert len(cut) < 220


# --- documents ----------------------------------------------------------------------------------
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:mrn", "value": "MRN-7"}],
    "name": [
        {"use": "nickname", "given": ["Gigi"]},
        {"use": "official", "given": ["Grace", "B."], "family": "Hopper"},
    ],
    "gender": "female",
    "birthDate": "1906-12-09",
    "telecom": [{"system": "phone", "value": "555-0100"}],
    "address": [{"line": ["1 Navy Way"], "city": "Arlington", "country": "US"}],
    "text": {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
        "<p>Rear <b>admiral</b> &amp; pioneer</p></div>",
    },
}


def test_a_patient_document_is_private_to_the_patient():
    doc = patient_document(PATIENT)
    assert (doc.kind, doc.id, doc.title, doc.url, doc.patient_id) == (
        "patient",
        "p1",
        "Grace B. Hopper",
        "Patient/p1",
        "p1",
    )
    for text in ("Gigi", "1906-12-09", "Arlington", "555-0100", "Rear admiral & pioneer"):
        assert text in doc.body
    assert doc.keywords == ("MRN-7",)
    assert doc.fields == {"birthDate": "1906-12-09", "gender": "female"}


def test_public_documents_leave_contact_details_out():
    doc = practitioner_document(
        {
            "resourceType": "Practitioner",
            "id": "d1",
            "name": [{"prefix": ["Dr"], "given": ["Ada"], "family": "Lovelace"}],
            "telecom": [{"system": "phone", "value": "555-0199"}],
            "address": [{"line": ["2 Private Rd"], "city": "London"}],
            "qualification": [{"code": {"coding": [{"display": "Paediatrics"}]}}],
        }
    )
    assert doc.title == "Dr Ada Lovelace" and doc.patient_id is None
    assert "Paediatrics" in doc.body and "London" in doc.body
    assert "555-0199" not in doc.body and "Private Rd" not in doc.body


def test_organization_and_medication_documents():
    org = organization_document(
        {"resourceType": "Organization", "id": "o1", "name": "Lakeside", "alias": ["LSC"]}
    )
    assert (org.title, org.body, org.patient_id) == ("Lakeside", "LSC", None)
    med = medication_document(
        {
            "resourceType": "Medication",
            "id": "m1",
            "code": {
                "coding": [
                    {"system": "rxnorm", "code": "313782", "display": "Acetaminophen 325 MG"}
                ]
            },
            "form": {"text": "tablet"},
            "ingredient": [{"itemCodeableConcept": {"text": "acetaminophen"}}],
        }
    )
    assert med.title == "Acetaminophen 325 MG" and "313782" in med.keywords
    assert "tablet" in med.body and med.fields == {"form": "tablet"}
    bare = medication_document({"resourceType": "Medication", "id": "m2"})
    assert bare.title == "Medication m2"


def test_narrative_survives_broken_markup():
    assert narrative({"text": {"div": "<div><p>open <b>unclosed"}}) == "open unclosed"
    assert narrative({}) == ""


def test_documents_round_trip_as_job_payloads():
    doc = patient_document(PATIENT)
    assert document_from_payload(document_payload(doc)) == doc
    with pytest.raises(ValueError):
        document_from_payload({"kind": "x"})
