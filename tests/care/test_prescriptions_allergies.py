"""The allergy check's matching rule (plugins/prescriptions/allergies.py), on plain
resources: which allergies count, and which medications they match."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.prescriptions.allergies import counts, detail, find_matches, match

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def allergy(text: str | None = None, **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "AllergyIntolerance", "id": "a1"}
    if text is not None:
        resource["code"] = {"text": text}
    resource.update(fields)
    return resource


def status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


@pytest.mark.parametrize(
    ("allergy_text", "display"),
    [
        ("Penicillin", "Penicillin V potassium 250 mg tablet"),
        ("penicillins", "PENICILLIN G benzathine injection"),
        ("Allergy to penicillin", "Amoxicillin 250 mg/5 mL oral suspension"),
        ("Amoxicillin", "Phenoxymethylpenicillin 250 mg tablet"),
        ("Sulfonamide antibiotics", "Sulfamethoxazole 800 mg / trimethoprim 160 mg tablet"),
        ("Cefalexin", "Cephalexin 500 mg capsule"),
        ("Ibuprofen", "Ibuprofen 200 mg oral tablet"),
    ],
)
def test_named_and_class_matches(allergy_text, display):
    assert match(RXNORM, "1", display, allergy(allergy_text)) is not None


@pytest.mark.parametrize(
    ("allergy_text", "display"),
    [
        ("Peanut", "Amoxicillin 250 mg/5 mL oral suspension"),
        ("Penicillin", "Cefalexin 500 mg capsule"),  # another class: no cross-match
        ("Penicillin V potassium", "Losartan potassium 50 mg tablet"),  # salts say nothing
        ("Drug allergy", "Ibuprofen 200 mg oral tablet"),  # generic words say nothing
        ("Latex", "Paracetamol 500 mg tablet"),
    ],
)
def test_no_match(allergy_text, display):
    assert match(RXNORM, "1", display, allergy(allergy_text)) is None


def test_a_coded_match_needs_system_and_code():
    coded = allergy(code={"coding": [{"system": RXNORM, "code": "723"}]})
    assert match(RXNORM, "723", "Something else", coded) is not None
    assert match("http://snomed.info/sct", "723", "Something else", coded) is None
    assert match(RXNORM, "724", "Something else", coded) is None


def test_a_reaction_substance_matches_too():
    found = allergy(
        "Food additive",
        reaction=[{"substance": {"text": "Amoxicillin"}, "manifestation": [{"text": "rash"}]}],
    )
    assert match(RXNORM, "1", "Amoxicillin 500 mg capsule", found) is not None


def test_coding_displays_name_the_substance():
    found = allergy(
        code={
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "91936005",
                    "display": "Allergy to penicillin",
                }
            ]
        }
    )
    hit = match(RXNORM, "1", "Amoxicillin 500 mg capsule", found)
    assert hit is not None and hit.allergy_name == "Allergy to penicillin"
    assert "amoxicillin is a penicillin" in detail("Amoxicillin 500 mg capsule", hit)


@pytest.mark.parametrize(
    ("fields", "counted"),
    [
        ({}, True),
        ({"clinicalStatus": status(CLINICAL, "active")}, True),
        ({"clinicalStatus": status(CLINICAL, "inactive")}, False),
        ({"clinicalStatus": status(CLINICAL, "resolved")}, False),
        ({"verificationStatus": status(VERIFICATION, "unconfirmed")}, True),
        ({"verificationStatus": status(VERIFICATION, "entered-in-error")}, False),
        ({"verificationStatus": status(VERIFICATION, "refuted")}, False),
    ],
)
def test_which_allergies_count(fields, counted):
    assert counts(allergy("Penicillin", **fields)) is counted


def test_find_matches_skips_allergies_that_do_not_count():
    resources = [
        allergy("Penicillin", id="a1"),
        allergy("Penicillin", id="a2", clinicalStatus=status(CLINICAL, "inactive")),
        allergy("Peanut", id="a3"),
    ]
    hits = find_matches(RXNORM, "1", "Amoxicillin 250 mg/5 mL oral suspension", resources)
    assert [h.allergy_id for h in hits] == ["a1"]
