"""Compartment search in the Encounter, Practitioner, RelatedPerson and Device compartments
(HL7's R4 CompartmentDefinitions), with the same authorization narrowing as the Patient
compartment: a patient-scoped token never sees another patient's data through them."""

from __future__ import annotations

from typing import Any

import pytest

from platform_core.fhir import definitions
from platform_core.fhir.search.compartment import member_types, members, owner_included
from tests.conftest import outcome_codes, server_provenance


def refs(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in resp.get_json().get("entry", [])
        if not server_provenance(e["resource"])
    }


def setup(fhir: Any) -> dict[str, str]:
    """Patients A and B; a practitioner, a related person of A and a device; per patient an
    Encounter with an Observation and a Condition in it, each Observation performed by the
    practitioner and the related person and made by the device."""
    w: dict[str, str] = {}
    w["pract"] = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Who"}]})["id"]
    w["device"] = fhir.create({"resourceType": "Device"})["id"]
    w["other_pract"] = fhir.create({"resourceType": "Practitioner"})["id"]
    for who in ("a", "b"):
        pid = fhir.create(
            {
                "resourceType": "Patient",
                "generalPractitioner": [{"reference": f"Practitioner/{w['pract']}"}],
            }
        )["id"]
        w[who] = pid
        rp = fhir.create(
            {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{pid}"}}
        )["id"]
        w[f"{who}_rp"] = rp
        enc = fhir.create(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"individual": {"reference": f"Practitioner/{w['pract']}"}}],
            }
        )["id"]
        w[f"{who}_enc"] = enc
        w[f"{who}_obs"] = fhir.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": f"obs {who}"},
                "subject": {"reference": f"Patient/{pid}"},
                "encounter": {"reference": f"Encounter/{enc}"},
                "performer": [
                    {"reference": f"Practitioner/{w['pract']}"},
                    {"reference": f"RelatedPerson/{rp}"},
                ],
                "device": {"reference": f"Device/{w['device']}"},
            }
        )["id"]
        w[f"{who}_cond"] = fhir.create(
            {
                "resourceType": "Condition",
                "subject": {"reference": f"Patient/{pid}"},
                "encounter": {"reference": f"Encounter/{enc}"},
                "code": {"text": "x"},
            }
        )["id"]
    return w


def test_definitions_are_hl7s_five() -> None:
    for code in definitions.COMPARTMENTS:
        cd = definitions.compartment_definition(code)
        assert cd["resourceType"] == "CompartmentDefinition"
        assert cd["code"] == code and cd["version"] == "4.0.1"
    assert members("Encounter")["Observation"] == ("encounter",)
    assert members("Practitioner")["Encounter"] == ("practitioner", "participant")
    assert members("Device")["Observation"] == ("subject", "device")
    assert owner_included("Encounter") and owner_included("RelatedPerson")
    assert not owner_included("Device")  # R4 lists Device without {def}
    assert "Device" not in member_types("Device")


def test_encounter_compartment(fhir):
    w = setup(fhir)
    assert refs(fhir.get(f"Encounter/{w['a_enc']}/Observation")) == {f"Observation/{w['a_obs']}"}
    assert refs(fhir.get(f"Encounter/{w['a_enc']}/*")) == {
        f"Encounter/{w['a_enc']}",
        f"Observation/{w['a_obs']}",
        f"Condition/{w['a_cond']}",
    }
    assert refs(fhir.get(f"Encounter/{w['b_enc']}/Condition?code:text=x")) == {
        f"Condition/{w['b_cond']}"
    }
    assert refs(fhir.get("Encounter/nobody/Observation")) == set()


def test_practitioner_compartment(fhir):
    w = setup(fhir)
    assert refs(fhir.get(f"Practitioner/{w['pract']}/Observation")) == {
        f"Observation/{w['a_obs']}",
        f"Observation/{w['b_obs']}",
    }
    assert refs(fhir.get(f"Practitioner/{w['pract']}/Patient")) == {
        f"Patient/{w['a']}",
        f"Patient/{w['b']}",
    }
    assert refs(fhir.get(f"Practitioner/{w['pract']}/Encounter")) == {
        f"Encounter/{w['a_enc']}",
        f"Encounter/{w['b_enc']}",
    }
    everything = refs(fhir.get(f"Practitioner/{w['pract']}/*"))
    assert f"Practitioner/{w['pract']}" in everything
    assert f"Practitioner/{w['other_pract']}" not in everything
    assert refs(fhir.get(f"Practitioner/{w['other_pract']}/*")) == {
        f"Practitioner/{w['other_pract']}"
    }
    resp = fhir.get(f"Practitioner/{w['pract']}/Observation?_total=accurate&_count=1")
    assert resp.get_json()["total"] == 2


def test_related_person_and_device_compartments(fhir):
    w = setup(fhir)
    assert refs(fhir.get(f"RelatedPerson/{w['a_rp']}/*")) == {
        f"RelatedPerson/{w['a_rp']}",
        f"Observation/{w['a_obs']}",
    }
    assert refs(fhir.get(f"Device/{w['device']}/Observation")) == {
        f"Observation/{w['a_obs']}",
        f"Observation/{w['b_obs']}",
    }
    assert f"Device/{w['device']}" not in refs(fhir.get(f"Device/{w['device']}/*"))


@pytest.mark.parametrize(
    "path",
    [
        "Encounter/e1/Organization",  # not in the Encounter compartment
        "Device/d1/Device",  # R4's Device compartment does not hold the Device
        "Encounter/e1/$everything",  # an R5 operation
        "Organization/o1/Observation",  # not a compartment
    ],
)
def test_compartment_errors(fhir, counts, path):
    before = counts()
    resp = fhir.get(path)
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3003"]
    assert counts() == before


def test_bad_criteria_in_a_compartment_search_are_400(fhir, counts):
    before = counts()
    resp = fhir.get("Encounter/e1/Observation?nonsense=1")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3001"]
    assert "nonsense" in resp.get_json()["issue"][0]["expression"][0]
    assert fhir.get("Encounter/e1/Observation?value-quantity=abc").status_code == 400
    assert counts() == before


def test_capability_statement_lists_the_compartments(fhir):
    rest = fhir.get("metadata").get_json()["rest"][0]
    assert rest["compartment"] == [
        "http://hl7.org/fhir/CompartmentDefinition/device",
        "http://hl7.org/fhir/CompartmentDefinition/encounter",
        "http://hl7.org/fhir/CompartmentDefinition/patient",
        "http://hl7.org/fhir/CompartmentDefinition/practitioner",
        "http://hl7.org/fhir/CompartmentDefinition/relatedPerson",
    ]


# --- authorization ---------------------------------------------------------------------------


def test_no_token_is_401_and_missing_scope_is_403(fhir, anonymous, fhir_as):
    w = setup(fhir)
    for path in (f"Encounter/{w['a_enc']}/Observation", f"Practitioner/{w['pract']}/*"):
        assert anonymous.get(path).status_code == 401
    reader = fhir_as("system/Condition.rs")
    resp = reader.get(f"Encounter/{w['a_enc']}/Observation")
    assert resp.status_code == 403
    assert outcome_codes(resp.get_json()) == ["FS-0602"]
    assert refs(reader.get(f"Encounter/{w['a_enc']}/Condition")) == {f"Condition/{w['a_cond']}"}
    # ``*`` answers with what the scopes reach, here the Conditions only.
    assert refs(reader.get(f"Encounter/{w['a_enc']}/*")) == {f"Condition/{w['a_cond']}"}
    assert refs(reader.get(f"Practitioner/{w['pract']}/*")) == set()


def test_patient_token_sees_only_its_patient_through_every_compartment(fhir, fhir_as):
    w = setup(fhir)
    mine = fhir_as("patient/*.rs", patient=w["a"])
    # Another patient's encounter: nothing, as for an encounter that does not exist.
    assert refs(mine.get(f"Encounter/{w['b_enc']}/Observation")) == set()
    assert refs(mine.get(f"Encounter/{w['b_enc']}/*")) == set()
    assert refs(mine.get(f"Encounter/{w['a_enc']}/*")) == {
        f"Encounter/{w['a_enc']}",
        f"Observation/{w['a_obs']}",
        f"Condition/{w['a_cond']}",
    }
    # The practitioner treats both patients: only A's data comes back (and the Practitioner,
    # which holds no patient's data).
    assert refs(mine.get(f"Practitioner/{w['pract']}/Observation")) == {f"Observation/{w['a_obs']}"}
    assert refs(mine.get(f"Practitioner/{w['pract']}/Patient")) == {f"Patient/{w['a']}"}
    assert refs(mine.get(f"Practitioner/{w['pract']}/*")) == {
        f"Practitioner/{w['pract']}",
        f"Patient/{w['a']}",
        f"Encounter/{w['a_enc']}",
        f"Observation/{w['a_obs']}",
    }
    counted = mine.get(f"Practitioner/{w['pract']}/Observation?_total=accurate")
    assert counted.get_json()["total"] == 1
    assert mine.get(f"Device/{w['device']}/Observation?_summary=count").get_json()["total"] == 1
    assert refs(mine.get(f"RelatedPerson/{w['b_rp']}/*")) == set()
    assert refs(mine.get(f"RelatedPerson/{w['a_rp']}/*")) == {
        f"RelatedPerson/{w['a_rp']}",
        f"Observation/{w['a_obs']}",
    }
    # Includes are narrowed too.
    found = refs(
        mine.get(f"Device/{w['device']}/Observation?_include=Observation:subject&_count=50")
    )
    assert found == {f"Observation/{w['a_obs']}", f"Patient/{w['a']}"}
