"""Deterministic synthetic patient data for the benchmarks.

``patient_bundle(seed)`` builds one transaction Bundle (100-300 entries by default): a Patient
and its Encounters, vital-sign and lab Observations, Conditions and MedicationRequests, all
POSTed and cross-referenced through ``urn:uuid:`` fullUrls. ``patient_resource(seed)`` builds a
single Patient for the create benchmark. The same seed always gives the same JSON, so runs are
comparable; every resource is valid FHIR R4 (required elements, required bindings, the
invariants of the resources used). ``python -m bench.synthetic --check`` validates a sample
with ``fhir.resources`` (R4B models, identical to R4 for these resource types) and, when it
can be imported, with Fireside's own validator.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import uuid
from collections.abc import Iterator
from typing import Any

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5.99999.1"
MRN_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"

GIVEN_F = ("Anna", "Maria", "Sofia", "Emma", "Olivia", "Chloe", "Grace", "Ines", "Lea", "Mia")
GIVEN_M = ("James", "Liam", "Noah", "Lucas", "Omar", "Ethan", "Mateo", "Hugo", "Leo", "Ravi")
FAMILY = (
    "Smith",
    "Garcia",
    "Nguyen",
    "Müller",
    "Okafor",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "O'Brien",
    "Johansson",
    "Dubois",
)
STREETS = ("Oak Street", "Maple Avenue", "Cedar Lane", "Elm Road", "Birch Way", "Harbor Drive")
CITIES = (
    ("Springfield", "IL", "62701"),
    ("Portland", "OR", "97201"),
    ("Madison", "WI", "53703"),
    ("Austin", "TX", "78701"),
    ("Burlington", "VT", "05401"),
)
TZ_OFFSETS = ("-08:00", "-06:00", "-05:00", "+00:00", "+01:00", "+05:30")

ENCOUNTER_CLASSES = (
    ("AMB", "ambulatory", "185349003", "Encounter for check up"),
    ("AMB", "ambulatory", "390906007", "Follow-up encounter"),
    ("EMER", "emergency", "50849002", "Emergency room admission"),
    ("IMP", "inpatient encounter", "183452005", "Emergency hospital admission"),
)

# (LOINC code, display, UCUM code, unit, low, high, decimals)
VITALS: tuple[tuple[str, str, str, str, float, float, int], ...] = (
    ("8867-4", "Heart rate", "/min", "beats/minute", 55, 110, 0),
    ("9279-1", "Respiratory rate", "/min", "breaths/minute", 12, 22, 0),
    ("8310-5", "Body temperature", "Cel", "C", 36.1, 38.4, 1),
    ("29463-7", "Body weight", "kg", "kg", 50, 110, 1),
    ("8302-2", "Body height", "cm", "cm", 150, 195, 1),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", 18, 35, 1),
    ("2708-6", "Oxygen saturation in Arterial blood", "%", "%", 92, 100, 0),
)
LABS: tuple[tuple[str, str, str, str, float, float, int], ...] = (
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "mg/dL", 70, 180, 0),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", 11, 17, 1),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 140, 260, 0),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", 4.8, 9.5, 1),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 0.6, 1.4, 2),
)
CONDITIONS = (
    ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    ("44054006", "Diabetes mellitus type 2 (disorder)"),
    ("195662009", "Acute viral pharyngitis (disorder)"),
    ("10509002", "Acute bronchitis (disorder)"),
    ("55822004", "Hyperlipidemia (disorder)"),
    ("40055000", "Chronic sinusitis (disorder)"),
    ("162864005", "Body mass index 30+ - obesity (finding)"),
    ("444814009", "Viral sinusitis (disorder)"),
)
# (RxNorm code, display, dose, UCUM dose unit, times per day)
MEDICATIONS = (
    ("314076", "lisinopril 10 MG Oral Tablet", 1, "{tbl}", 1),
    ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", 1, "{tbl}", 2),
    ("617314", "atorvastatin 10 MG Oral Tablet", 1, "{tbl}", 1),
    ("308182", "amoxicillin 250 MG Oral Capsule", 2, "{cap}", 3),
    ("198440", "acetaminophen 500 MG Oral Tablet", 1, "{tbl}", 4),
    ("310965", "ibuprofen 200 MG Oral Tablet", 2, "{tbl}", 3),
)
DOSE_UNITS = {"{tbl}": "tablet", "{cap}": "capsule"}
ORAL_ROUTE = {"system": SNOMED, "code": "26643006", "display": "Oral route"}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _measure(rng: random.Random, low: float, high: float, decimals: int) -> float | int:
    value = round(rng.uniform(low, high), decimals)
    return int(value) if decimals == 0 else value


def _datetime(moment: dt.datetime, offset: str) -> str:
    """An R4 dateTime with seconds and an explicit UTC offset (required when a time is given)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset


def patient_resource(seed: int | str, *, rng: random.Random | None = None) -> dict[str, Any]:
    """One Patient: MRN identifier, name, gender, birthDate, address and telecom."""
    rng = rng or random.Random(f"patient:{seed}")
    gender = rng.choice(("female", "male"))
    given = rng.choice(GIVEN_F if gender == "female" else GIVEN_M)
    middle = rng.choice(GIVEN_F if gender == "female" else GIVEN_M)
    family = rng.choice(FAMILY)
    city, state, postal = rng.choice(CITIES)
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 85))
    mrn = f"MRN-{seed}-{rng.randrange(10**8):08d}"
    phone = f"555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"
    return {
        "resourceType": "Patient",
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": MRN_TYPE, "code": "MR", "display": "Medical record number"}
                    ]
                },
                "system": MRN_SYSTEM,
                "value": mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given, middle]}],
        "telecom": [
            {"system": "phone", "value": phone, "use": "home"},
            {
                "system": "email",
                "value": f"{given.lower()}.{rng.randrange(10**6)}@example.org",
                "use": "home",
            },
        ],
        "gender": gender,
        "birthDate": birth.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randrange(1, 999)} {rng.choice(STREETS)}"],
                "city": city,
                "state": state,
                "postalCode": postal,
                "country": "US",
            }
        ],
        "maritalStatus": {
            "coding": [{"system": MARITAL, "code": rng.choice("MSWD")}],
        },
    }


def _encounter(
    rng: random.Random, patient_ref: str, start: dt.datetime, offset: str
) -> dict[str, Any]:
    act, act_display, type_code, type_display = rng.choice(ENCOUNTER_CLASSES)
    hours = rng.randint(24, 96) if act == "IMP" else 0
    end = start + dt.timedelta(hours=hours, minutes=rng.randint(15, 90))
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": ACT_CODE, "code": act, "display": act_display},
        "type": [{"coding": [{"system": SNOMED, "code": type_code, "display": type_display}]}],
        "subject": {"reference": patient_ref},
        "period": {"start": _datetime(start, offset), "end": _datetime(end, offset)},
    }


def _observation(
    category: str,
    code: tuple[str, str],
    patient_ref: str,
    encounter_ref: str,
    when: str,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code[0], "display": code[1]}]},
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter_ref},
        "effectiveDateTime": when,
    }


def _vitals(
    rng: random.Random, patient_ref: str, encounter_ref: str, when: str
) -> Iterator[dict[str, Any]]:
    for code, display, ucum, unit, low, high, decimals in VITALS:
        obs = _observation("vital-signs", (code, display), patient_ref, encounter_ref, when)
        obs["valueQuantity"] = _quantity(_measure(rng, low, high, decimals), unit, ucum)
        yield obs
    bp = _observation(
        "vital-signs", ("85354-9", "Blood pressure panel"), patient_ref, encounter_ref, when
    )
    bp["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": c, "display": d}]},
            "valueQuantity": _quantity(rng.randint(lo, hi), "mm[Hg]", "mm[Hg]"),
        }
        for c, d, lo, hi in (
            ("8480-6", "Systolic blood pressure", 100, 160),
            ("8462-4", "Diastolic blood pressure", 60, 100),
        )
    ]
    yield bp


def _labs(
    rng: random.Random, patient_ref: str, encounter_ref: str, when: str
) -> Iterator[dict[str, Any]]:
    for code, display, ucum, unit, low, high, decimals in rng.sample(LABS, rng.randint(1, 3)):
        obs = _observation("laboratory", (code, display), patient_ref, encounter_ref, when)
        obs["valueQuantity"] = _quantity(_measure(rng, low, high, decimals), unit, ucum)
        yield obs


def _condition(
    rng: random.Random, patient_ref: str, encounter_ref: str, onset: dt.datetime, offset: str
) -> dict[str, Any]:
    code, display = rng.choice(CONDITIONS)
    resolved = rng.random() < 0.35
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [{"system": COND_CLINICAL, "code": "resolved" if resolved else "active"}]
        },
        "verificationStatus": {"coding": [{"system": COND_VERIFICATION, "code": "confirmed"}]},
        "category": [
            {
                "coding": [
                    {
                        "system": COND_CATEGORY,
                        "code": "encounter-diagnosis",
                        "display": "Encounter Diagnosis",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter_ref},
        "onsetDateTime": _datetime(onset, offset),
        "recordedDate": _datetime(onset + dt.timedelta(minutes=10), offset),
    }
    if resolved:  # con-4: an abated condition is inactive, resolved or in remission
        condition["abatementDateTime"] = _datetime(
            onset + dt.timedelta(days=rng.randint(5, 60)), offset
        )
    return condition


def _medication_request(
    rng: random.Random, patient_ref: str, encounter_ref: str, authored: dt.datetime, offset: str
) -> dict[str, Any]:
    code, display, dose, dose_unit, per_day = rng.choice(MEDICATIONS)
    return {
        "resourceType": "MedicationRequest",
        "status": rng.choice(("active", "completed", "stopped")),
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter_ref},
        "authoredOn": _datetime(authored, offset),
        "dosageInstruction": [
            {
                "sequence": 1,
                "text": f"Take {dose} by mouth {per_day} time(s) a day",
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "route": {"coding": [ORAL_ROUTE]},
                "doseAndRate": [
                    {"doseQuantity": _quantity(dose, DOSE_UNITS[dose_unit], dose_unit)}
                ],
            }
        ],
    }


def patient_bundle(
    seed: int | str, *, min_entries: int = 100, max_entries: int = 300
) -> dict[str, Any]:
    """One transaction Bundle for one synthetic patient, ``min..max`` entries long."""
    rng = random.Random(f"bundle:{seed}")
    target = rng.randint(min_entries, max_entries)
    offset = rng.choice(TZ_OFFSETS)
    patient_url = f"urn:uuid:{_uuid(rng)}"
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> str:
        full_url = f"urn:uuid:{_uuid(rng)}" if entries else patient_url
        entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
        return full_url

    add(patient_resource(seed, rng=rng))
    moment = dt.datetime(2015, 1, 1, 8, 0) + dt.timedelta(days=rng.randrange(365))
    while len(entries) < target:
        moment += dt.timedelta(days=rng.randint(7, 120), minutes=rng.randint(0, 600))
        encounter = _encounter(rng, patient_url, moment, offset)
        encounter_url = add(encounter)
        when = _datetime(moment + dt.timedelta(minutes=rng.randint(5, 30)), offset)
        children: list[dict[str, Any]] = [
            *_vitals(rng, patient_url, encounter_url, when),
            *_labs(rng, patient_url, encounter_url, when),
        ]
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            children.append(_condition(rng, patient_url, encounter_url, moment, offset))
        for _ in range(rng.choice((0, 1, 1, 2))):
            children.append(_medication_request(rng, patient_url, encounter_url, moment, offset))
        for child in children:
            if len(entries) >= target:
                break
            add(child)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def patient_bundles(count: int, *, seed: int = 0, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """``count`` Bundles with seeds ``seed``, ``seed + 1`` ..."""
    for i in range(count):
        yield patient_bundle(seed + i, **kwargs)


def _check_with_fhir_resources(resource: dict[str, Any]) -> str | None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception as exc:  # pydantic's ValidationError and friends
        return str(exc)
    return None


def _fireside_validator() -> Any:
    try:
        from platform_core.fhir.validation import validate_resource
    except ImportError:
        return None
    return validate_resource


def check(count: int, seed: int = 0) -> dict[str, Any]:
    """Validate ``count`` bundles' resources; returns counts and the first problems."""
    validator = _fireside_validator()
    problems: list[str] = []
    sizes: list[int] = []
    types: dict[str, int] = {}
    for bundle in patient_bundles(count, seed=seed):
        sizes.append(len(bundle["entry"]))
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        assert len(full_urls) == len(bundle["entry"]), "duplicate fullUrl"
        for i, entry in enumerate(bundle["entry"]):
            resource = entry["resource"]
            types[resource["resourceType"]] = types.get(resource["resourceType"], 0) + 1
            for ref in _references(resource):
                if ref.startswith("urn:uuid:") and ref not in full_urls:
                    problems.append(f"entry {i}: dangling reference {ref}")
            error = _check_with_fhir_resources(resource)
            if error:
                problems.append(f"entry {i} fhir.resources: {error}")
            if validator is not None:
                for found in validator(resource) or ():
                    # Warnings (and information) are reported too: the data should raise none.
                    problems.append(f"entry {i} fireside {found.severity}: {found.diagnostics}")
    return {
        "bundles": count,
        "entries_min": min(sizes),
        "entries_max": max(sizes),
        "entries_total": sum(sizes),
        "types": types,
        "fireside_validator": validator is not None,
        "problems": len(problems),
        "first_problems": problems[:10],
    }


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def main(argv: list[str] | None = None) -> int:
    """Print one bundle, or with ``--check`` validate a sample of them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", type=int, metavar="N", help="validate N bundles")
    args = parser.parse_args(argv)
    if args.check:
        result = check(args.check, args.seed)
        print(json.dumps(result, indent=2))
        return 1 if result["problems"] else 0
    json.dump(patient_bundle(args.seed), sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
