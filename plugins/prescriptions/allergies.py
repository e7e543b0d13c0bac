"""The allergy check: does a medication match one of the patient's recorded allergies?

A deliberately small, documented rule (docs/prescriptions.md), not a drug knowledge base:

1. Only allergies that count: clinical status ``active`` or absent, and a verification
   status that is not ``entered-in-error`` or ``refuted``.
2. A **coded match**: a coding (system and code) of the allergy's ``code`` or of a
   ``reaction.substance`` equals the medication's coding.
3. A **named match**: the allergy's substance words (its code text and coding displays,
   without generic words such as "allergy", "oral" or salts such as "potassium") share a
   word with the medication's display, case-insensitively ("penicillin" in
   "Penicillin V potassium 250 mg tablet"); a trailing plural ``s`` is ignored.
4. A **class match**: both name a member of the same drug class in :data:`DRUG_CLASSES`
   (amoxicillin is a penicillin, so an allergy to "Penicillin" matches
   "Amoxicillin 250 mg/5 mL oral suspension").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DRUG_CLASSES: dict[str, frozenset[str]] = {
    "penicillin": frozenset(
        {
            "penicillin", "amoxicillin", "ampicillin", "amoxycillin", "benzylpenicillin",
            "phenoxymethylpenicillin", "flucloxacillin", "cloxacillin", "dicloxacillin",
            "oxacillin", "nafcillin", "piperacillin", "ticarcillin", "pivmecillinam",
            "temocillin", "augmentin",
        }
    ),
    "cephalosporin": frozenset(
        {
            "cephalosporin", "cefalexin", "cephalexin", "cefadroxil", "cefaclor",
            "cefuroxime", "cefixime", "cefpodoxime", "cefdinir", "ceftriaxone",
            "cefotaxime", "ceftazidime", "cefepime", "cefazolin",
        }
    ),
    "sulfonamide": frozenset(
        {
            "sulfonamide", "sulphonamide", "sulfa", "sulfamethoxazole", "sulfadiazine",
            "sulfasalazine", "cotrimoxazole", "trimethoprim-sulfamethoxazole",
        }
    ),
}  # fmt: skip
"""Small drug classes whose members cross-react, by class name. A class match is a
reminder to look, not a pharmacological verdict."""

GENERIC_WORDS = frozenset(
    {
        "allergy", "allergic", "allergies", "intolerance", "intolerant", "reaction",
        "sensitivity", "hypersensitivity", "drug", "drugs", "medication", "medicine",
        "substance", "product", "products", "class", "group", "agent", "agents", "derivative",
        "containing", "antibiotic", "antibiotics", "unknown", "other", "history",
        "oral", "tablet", "tablets", "capsule", "capsules", "suspension", "solution",
        "syrup", "injection", "injectable", "cream", "ointment", "drops", "powder",
        "extended", "release", "delayed", "film", "coated", "chewable", "dispersible",
        "sodium", "potassium", "calcium", "hydrochloride", "trihydrate", "sulfate",
        "sulphate", "phosphate", "acetate", "citrate", "with", "from", "for", "and",
    }
)  # fmt: skip
"""Words that name no substance: never a reason for a named match."""

_WORD = re.compile(r"[a-z][a-z\-]*[a-z]|[a-z]")
_COUNTING_CLINICAL = frozenset({"active"})
_DISCOUNTED_VERIFICATION = frozenset({"entered-in-error", "refuted"})


@dataclass(frozen=True)
class AllergyMatch:
    """One allergy the medication may set off, and why the check thinks so."""

    allergy_id: str
    allergy_name: str
    reason: str


def _codes(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def counts(allergy: dict[str, Any]) -> bool:
    """Whether an AllergyIntolerance is one to warn about (rule 1)."""
    clinical = [c.get("code") for c in _codes(allergy.get("clinicalStatus"))]
    if clinical and not _COUNTING_CLINICAL.intersection(clinical):
        return False
    verification = [c.get("code") for c in _codes(allergy.get("verificationStatus"))]
    return not _DISCOUNTED_VERIFICATION.intersection(verification)


def allergy_name(allergy: dict[str, Any]) -> str:
    """The substance as a person would name it."""
    code = allergy.get("code") or {}
    if code.get("text"):
        return str(code["text"])
    for coding in _codes(code):
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding["code"])
    return "an unnamed substance"


def _substances(allergy: dict[str, Any]) -> list[dict[str, Any]]:
    """The allergy's ``code`` and each ``reaction.substance``."""
    out = [allergy.get("code") or {}]
    for reaction in allergy.get("reaction") or []:
        if isinstance(reaction, dict) and isinstance(reaction.get("substance"), dict):
            out.append(reaction["substance"])
    return out


def _names(concepts: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for concept in concepts:
        if concept.get("text"):
            names.append(str(concept["text"]))
        names.extend(str(c["display"]) for c in _codes(concept) if c.get("display"))
    return names


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") else word


def _words(texts: list[str]) -> list[str]:
    """The substance words of ``texts``, lower-case, generic words and short words left
    out, in order of appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall(text.lower()):
            stem = _stem(word)
            if len(stem) >= 4 and word not in GENERIC_WORDS and stem not in GENERIC_WORDS:
                seen.setdefault(stem, None)
    return list(seen)


def _classes(words: list[str]) -> dict[str, str]:
    """Drug class -> the first of ``words`` that belongs to it."""
    found: dict[str, str] = {}
    for word in words:
        for name, members in DRUG_CLASSES.items():
            if word in members:
                found.setdefault(name, word)
    return found


def match(system: str, code: str, display: str, allergy: dict[str, Any]) -> AllergyMatch | None:
    """Whether the medication (``system|code``, ``display``) matches ``allergy`` (rules 2
    to 4; rule 1 is :func:`counts`), and why."""
    name = allergy_name(allergy)
    substances = _substances(allergy)
    for concept in substances:
        for coding in _codes(concept):
            if coding.get("system") == system and coding.get("code") == code:
                return AllergyMatch(allergy["id"], name, f"it is coded {system}|{code} too")
    allergy_words = _words(_names(substances))
    medication_words = _words([display])
    shared = [w for w in allergy_words if w in medication_words]
    if shared:
        return AllergyMatch(allergy["id"], name, f"both name {shared[0]!r}")
    allergy_classes = _classes(allergy_words)
    for klass, word in _classes(medication_words).items():
        if klass in allergy_classes:
            return AllergyMatch(allergy["id"], name, f"{word} is a {klass}")
    return None


def find_matches(
    system: str, code: str, display: str, allergies: list[dict[str, Any]]
) -> list[AllergyMatch]:
    """Every counting allergy of ``allergies`` the medication matches."""
    found = []
    for allergy in allergies:
        if allergy.get("resourceType") != "AllergyIntolerance" or not counts(allergy):
            continue
        hit = match(system, code, display, allergy)
        if hit is not None:
            found.append(hit)
    return found


def detail(medication: str, hit: AllergyMatch) -> str:
    """The DetectedIssue's detail: names the medication and the allergy, and why."""
    return (
        f"{medication} was prescribed although the patient has an allergy or intolerance "
        f"to {hit.allergy_name} (AllergyIntolerance/{hit.allergy_id}): {hit.reason}."
    )
