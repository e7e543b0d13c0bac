"""Token ``:below``/``:above`` (subsumption in stored CodeSystems) and ``:in``/``:not-in``
with ValueSet compose filters evaluated against stored CodeSystems."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import outcome_codes

CS = "https://fireside.example/CodeSystem/conditions"
VS = "https://fireside.example/ValueSet/"


def ids(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", [])}


def prop(code: str, **value: Any) -> dict[str, Any]:
    return {"code": code, **value}


CONCEPTS = [
    {
        "code": "heart",
        "display": "Heart disease",
        "concept": [
            {
                "code": "hypertension",
                "property": [prop("severity", valueCode="moderate")],
                "concept": [
                    {
                        "code": "malignant-hypertension",
                        "property": [prop("severity", valueCode="severe")],
                    }
                ],
            },
            {"code": "infarction", "property": [prop("inactive", valueBoolean=True)]},
        ],
    },
    {"code": "lung", "concept": [{"code": "asthma"}]},
    {"code": "fracture"},
    # A hierarchy given by the ``parent`` property instead of nesting.
    {"code": "angina", "property": [prop("parent", valueCode="heart")]},
]
ALL = ["heart", "hypertension", "malignant-hypertension", "infarction", "lung", "asthma"]
ALL += ["fracture", "angina"]


@pytest.fixture
def world(fhir: Any) -> dict[str, str]:
    fhir.create(
        {
            "resourceType": "CodeSystem",
            "status": "active",
            "content": "complete",
            "url": CS,
            "hierarchyMeaning": "is-a",
            "property": [
                {"code": "severity", "type": "code"},
                {"code": "inactive", "type": "boolean"},
                {"code": "parent", "type": "code"},
            ],
            "concept": CONCEPTS,
        }
    )
    out = {}
    for code in [*ALL, "unlisted"]:
        out[code] = fhir.create(
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/p"},
                "code": {"coding": [{"system": CS, "code": code}]},
            }
        )["id"]
    out["snomed"] = fhir.create(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
        }
    )["id"]
    return out


def search(fhir: Any, query: str) -> Any:
    return fhir.get("Condition?" + query)


def found(fhir: Any, world: dict[str, str], query: str) -> set[str]:
    names = {v: k for k, v in world.items()}
    return {names[i] for i in ids(search(fhir, query))}


# --- :below / :above ---------------------------------------------------------------------------


def test_below_is_the_code_and_its_descendants(fhir, world):
    assert found(fhir, world, f"code:below={CS}|heart") == {
        "heart",
        "hypertension",
        "malignant-hypertension",
        "infarction",
        "angina",
    }
    assert found(fhir, world, f"code:below={CS}|hypertension") == {
        "hypertension",
        "malignant-hypertension",
    }
    assert found(fhir, world, f"code:below={CS}|lung,{CS}|fracture") == {
        "lung",
        "asthma",
        "fracture",
    }
    assert found(fhir, world, f"code:below={CS}|asthma") == {"asthma"}


def test_above_is_the_code_and_its_ancestors(fhir, world):
    assert found(fhir, world, f"code:above={CS}|malignant-hypertension") == {
        "malignant-hypertension",
        "hypertension",
        "heart",
    }
    assert found(fhir, world, f"code:above={CS}|angina") == {"angina", "heart"}
    assert found(fhir, world, f"code:above={CS}|heart") == {"heart"}


def test_codes_outside_a_stored_code_system_match_only_themselves(fhir, world):
    assert found(fhir, world, "code:below=http://snomed.info/sct|38341003") == {"snomed"}
    assert found(fhir, world, "code:above=http://snomed.info/sct|38341003") == {"snomed"}
    assert found(fhir, world, f"code:below={CS}|unlisted") == {"unlisted"}
    assert found(fhir, world, "code:below=http://snomed.info/sct|1") == set()


def test_below_in_reverse_chains_and_on_plain_codes(fhir, world):
    patient = fhir.create({"resourceType": "Patient", "gender": "male"})["id"]
    fhir.create(
        {
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{patient}"},
            "code": {"coding": [{"system": CS, "code": "asthma"}]},
        }
    )
    assert ids(fhir.get(f"Patient?_has:Condition:subject:code:below={CS}|lung")) == {patient}
    assert ids(fhir.get(f"Patient?_has:Condition:subject:code:below={CS}|heart")) == set()
    # ``gender`` is a plain code: its system is implied by the binding.
    gender = "http://hl7.org/fhir/administrative-gender"
    assert ids(fhir.get(f"Patient?gender:below={gender}|male")) == {patient}


def test_a_newer_code_system_version_is_used(fhir, world):
    fhir.create(
        {
            "resourceType": "CodeSystem",
            "status": "active",
            "content": "complete",
            "url": CS,
            "concept": [{"code": "lung", "concept": [{"code": "asthma"}, {"code": "fracture"}]}],
        }
    )
    assert found(fhir, world, f"code:below={CS}|lung") == {"lung", "asthma", "fracture"}


@pytest.mark.parametrize("value", ["heart", f"{CS}|", "|heart"])
def test_below_needs_system_and_code(fhir, world, counts, value):
    before = counts()
    resp = search(fhir, f"code:below={value}")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3002"]
    assert resp.get_json()["issue"][0]["expression"] == ["code:below"]
    assert counts() == before


def test_above_and_below_only_on_tokens_and_uris(fhir, world):
    resp = fhir.get("Observation?value-quantity:below=5")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3003"]


# --- :in / :not-in with compose filters ---------------------------------------------------------


def value_set(fhir: Any, name: str, include: list[Any], exclude: list[Any] = ()) -> str:
    compose: dict[str, Any] = {"include": include}
    if exclude:
        compose["exclude"] = list(exclude)
    fhir.create(
        {"resourceType": "ValueSet", "status": "active", "url": VS + name, "compose": compose}
    )
    return VS + name


def filtered(fhir: Any, name: str, *filters: tuple[str, str, str]) -> str:
    include = {
        "system": CS,
        "filter": [{"property": p, "op": op, "value": v} for p, op, v in filters],
    }
    return value_set(fhir, name, [include])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            [("concept", "is-a", "heart")],
            {"heart", "hypertension", "malignant-hypertension", "infarction", "angina"},
        ),
        (
            [("concept", "descendent-of", "heart")],
            {"hypertension", "malignant-hypertension", "infarction", "angina"},
        ),
        ([("concept", "is-not-a", "heart")], {"lung", "asthma", "fracture"}),
        ([("concept", "generalizes", "malignant-hypertension")], {"heart", "hypertension",
                                                                   "malignant-hypertension"}),
        ([("severity", "=", "moderate")], {"hypertension"}),
        ([("severity", "in", "moderate,severe")], {"hypertension", "malignant-hypertension"}),
        ([("concept", "in", "asthma, fracture")], {"asthma", "fracture"}),
        (
            [("concept", "not-in", "asthma,fracture,heart")],
            {"hypertension", "malignant-hypertension", "infarction", "lung", "angina"},
        ),
        ([("concept", "regex", ".*hypertension")], {"hypertension", "malignant-hypertension"}),
        ([("display", "regex", "Heart.*")], {"heart"}),
        ([("inactive", "exists", "true")], {"infarction"}),
        ([("inactive", "=", "true")], {"infarction"}),
        ([("concept", "is-a", "heart"), ("severity", "exists", "true")],
         {"hypertension", "malignant-hypertension"}),
        ([("concept", "is-a", "nothing")], set()),
    ],
)  # fmt: skip
def test_filters(fhir, world, filters, expected):
    url = filtered(fhir, "f", *filters)
    assert found(fhir, world, f"code:in={url}") == expected
    everything = set(ALL) | {"unlisted", "snomed"}
    assert found(fhir, world, f"code:not-in={url}") == everything - expected


def test_includes_unite_excludes_subtract_and_value_sets_intersect(fhir, world):
    heart = filtered(fhir, "heart", ("concept", "is-a", "heart"))
    url = value_set(
        fhir,
        "mixed",
        [
            # the system's concepts that are also in the value set "heart"
            {
                "system": CS,
                "filter": [{"property": "severity", "op": "exists", "value": "true"}],
                "valueSet": [heart],
            },
            {"system": CS, "concept": [{"code": "asthma"}]},
        ],
        exclude=[
            {
                "system": CS,
                "filter": [{"property": "concept", "op": "=", "value": "malignant-hypertension"}],
            }
        ],
    )
    assert found(fhir, world, f"code:in={url}") == {"hypertension", "asthma"}


@pytest.mark.parametrize(
    ("include", "words"),
    [
        ({"system": "urn:not-stored", "filter": [{"property": "concept", "op": "is-a",
                                                 "value": "x"}]}, "urn:not-stored"),
        ({"system": CS, "filter": [{"property": "concept", "op": "regex", "value": "(a+)+$"}]},
         "nests"),
        ({"system": CS, "filter": [{"property": "concept", "op": "regex", "value": "(["}]},
         "not valid"),
        ({"system": CS, "filter": [{"property": "severity", "op": "is-a", "value": "x"}]},
         "severity"),
        ({"system": CS, "filter": [{"property": "inactive", "op": "exists", "value": "yes"}]},
         "true or false"),
    ],
)  # fmt: skip
def test_unsupported_filters_are_400_naming_why(fhir, world, counts, include, words):
    url = value_set(fhir, "bad", [include])
    before = counts()
    resp = fhir.get(f"Condition?code:in={quote(url)}")
    assert resp.status_code == 400
    body = resp.get_json()
    assert outcome_codes(body) == ["FS-3003"]
    assert words in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == ["code:in"]
    assert counts() == before


def test_an_operator_outside_r4_is_refused_by_name():
    """The validator keeps R4's nine operators out of stored ValueSets already (all nine are
    evaluated); the evaluator still names any other it meets."""
    from platform_core.fhir.errors import FhirError
    from platform_core.fhir.search.codesystems import index_code_system
    from platform_core.fhir.search.filters import apply_filter

    index = index_code_system({"url": CS, "concept": CONCEPTS})
    with pytest.raises(FhirError) as caught:
        apply_filter(index, {"property": "concept", "op": "child-of", "value": "x"}, "code:in")
    assert caught.value.status == 400
    assert "'child-of'" in str(caught.value)
    assert apply_filter(index, {"property": "concept", "op": "is-a", "value": "lung"}, "x") == {
        "lung",
        "asthma",
    }


def test_a_value_set_that_includes_itself_is_400(fhir, world, counts):
    url = value_set(fhir, "loop", [{"valueSet": [VS + "loop"]}])
    before = counts()
    resp = fhir.get(f"Condition?code:in={url}")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3003"]
    assert "includes itself" in resp.get_json()["issue"][0]["diagnostics"]
    assert counts() == before
