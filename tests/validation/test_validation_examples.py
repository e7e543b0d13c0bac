"""Realistic, valid R4 resources of many types must pass validation without any issue."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from platform_core.fhir.validation import validate_resource

XHTML = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Summary</p></div>'
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat-1",
    "meta": {"versionId": "3", "lastUpdated": "2024-03-01T10:15:00.123Z"},
    "text": {"status": "generated", "div": XHTML},
    "extension": [
        {
            "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
            "valueCode": "F",
        }
    ],
    "identifier": [
        {
            "use": "usual",
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                ]
            },
            "system": "urn:oid:1.2.36.146.595.217.0.1",
            "value": "12345",
            "period": {"start": "2001-05-06"},
        }
    ],
    "active": True,
    "name": [
        {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
        {"use": "maiden", "family": "Windsor", "period": {"end": "2002"}},
    ],
    "telecom": [
        {"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1},
        {"system": "email", "value": "p.chalmers@example.org"},
    ],
    "gender": "female",
    "birthDate": "1974-12-25",
    "_birthDate": {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1974-12-25T14:35:45-05:00",
            }
        ]
    },
    "deceasedBoolean": False,
    "address": [
        {
            "use": "home",
            "type": "both",
            "line": ["534 Erewhon St"],
            "city": "PleasantVille",
            "state": "Vic",
            "postalCode": "3999",
            "country": "AU",
        }
    ],
    "maritalStatus": {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}
        ]
    },
    "contact": [
        {
            "relationship": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}
                    ]
                }
            ],
            "name": {"family": "du Marché", "given": ["Bénédicte"]},
            "telecom": [{"system": "phone", "value": "+33 (237) 998327"}],
            "gender": "female",
        }
    ],
    "communication": [
        {
            "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-AU"}]},
            "preferred": True,
        }
    ],
    "managingOrganization": {"reference": "Organization/1", "display": "ACME Healthcare"},
}

OBSERVATION_JSON = """{
  "resourceType": "Observation",
  "id": "glucose",
  "status": "final",
  "category": [{"coding": [{"system":
    "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8",
    "display": "Glucose [Moles/volume] in Blood"}]},
  "subject": {"reference": "Patient/pat-1"},
  "effectiveDateTime": "2013-04-02T09:30:10+01:00",
  "issued": "2013-04-03T15:30:10.000+01:00",
  "performer": [{"reference": "Practitioner/prac-1"}],
  "valueQuantity": {"value": 1.50, "unit": "mmol/l", "system": "http://unitsofmeasure.org",
    "code": "mmol/L"},
  "interpretation": [{"coding": [{"system":
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "L"}]}],
  "referenceRange": [{
    "low": {"value": 3.1, "unit": "mmol/l", "system": "http://unitsofmeasure.org",
      "code": "mmol/L"},
    "high": {"value": 6.2, "unit": "mmol/l", "system": "http://unitsofmeasure.org",
      "code": "mmol/L"}
  }],
  "component": [
    {"code": {"text": "fasting"}, "valueBoolean": true},
    {"code": {"text": "sample volume"}, "valueQuantity": {"value": 5, "unit": "mL",
      "system": "http://unitsofmeasure.org", "code": "mL"}}
  ]
}"""

PRACTITIONER: dict[str, Any] = {
    "resourceType": "Practitioner",
    "id": "prac-1",
    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
    "active": True,
    "name": [{"family": "Careful", "given": ["Adam"], "prefix": ["Dr"]}],
    "telecom": [{"system": "phone", "value": "555-0100", "use": "work"}],
    "address": [{"use": "work", "line": ["1 Main St"], "city": "Springfield"}],
    "gender": "male",
    "birthDate": "1971-11-07",
    "qualification": [
        {
            "identifier": [{"system": "http://example.org/UniversityIdentifier", "value": "12"}],
            "code": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0360|2.7", "code": "MD"}
                ]
            },
            "period": {"start": "1995"},
            "issuer": {"display": "Example University"},
        }
    ],
}

ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "status": "finished",
    "statusHistory": [
        {
            "status": "arrived",
            "period": {"start": "2024-01-05T09:00:00Z", "end": "2024-01-05T09:10:00Z"},
        }
    ],
    "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "AMB",
        "display": "ambulatory",
    },
    "type": [{"coding": [{"system": SNOMED, "code": "185349003"}]}],
    "subject": {"reference": "Patient/pat-1"},
    "participant": [
        {
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "PPRF",
                        }
                    ]
                }
            ],
            "individual": {"reference": "Practitioner/prac-1"},
        }
    ],
    "period": {"start": "2024-01-05T09:00:00Z", "end": "2024-01-05T09:45:00Z"},
    "length": {"value": 45, "unit": "min", "system": UCUM, "code": "min"},
    "reasonCode": [{"text": "Check-up"}],
    "diagnosis": [{"condition": {"reference": "Condition/cond-1"}, "rank": 1}],
    "location": [{"location": {"display": "Room 3"}, "status": "completed"}],
}

CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "cond-1",
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "resolved",
            }
        ]
    },
    "verificationStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed",
            }
        ]
    },
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                    "code": "encounter-diagnosis",
                }
            ]
        }
    ],
    "severity": {"coding": [{"system": SNOMED, "code": "24484000", "display": "Severe"}]},
    "code": {"coding": [{"system": SNOMED, "code": "39065001", "display": "Burn of ear"}]},
    "bodySite": [{"coding": [{"system": SNOMED, "code": "49521004"}], "text": "left ear"}],
    "subject": {"reference": "Patient/pat-1"},
    "encounter": {"reference": "Encounter/enc-1"},
    "onsetDateTime": "2012-05-24",
    "abatementAge": {"value": 38, "unit": "years", "system": UCUM, "code": "a"},
    "recordedDate": "2012-05-24T10:00:00+10:00",
    "note": [{"text": "Healed well", "time": "2012-06-30"}],
}

ALLERGY: dict[str, Any] = {
    "resourceType": "AllergyIntolerance",
    "id": "allergy-1",
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active",
            }
        ]
    },
    "verificationStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "code": "confirmed",
            }
        ]
    },
    "type": "allergy",
    "category": ["food"],
    "criticality": "high",
    "code": {"coding": [{"system": SNOMED, "code": "227493005", "display": "Cashew nuts"}]},
    "patient": {"reference": "Patient/pat-1"},
    "onsetDateTime": "2004",
    "recordedDate": "2014-10-09T14:58:00+11:00",
    "reaction": [
        {
            "substance": {"coding": [{"system": SNOMED, "code": "1160593"}]},
            "manifestation": [{"coding": [{"system": SNOMED, "code": "39579001"}]}],
            "onset": "2012-06-12",
            "severity": "severe",
            "exposureRoute": {"coding": [{"system": SNOMED, "code": "34206005"}]},
        }
    ],
}

MEDICATION_REQUEST: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "medrx-1",
    "contained": [
        {
            "resourceType": "Medication",
            "id": "med1",
            "code": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "582620"}
                ]
            },
        }
    ],
    "status": "active",
    "intent": "order",
    "medicationReference": {"reference": "#med1"},
    "subject": {"reference": "Patient/pat-1"},
    "authoredOn": "2015-01-15",
    "requester": {"reference": "Practitioner/prac-1"},
    "dosageInstruction": [
        {
            "sequence": 1,
            "text": "1 tablet twice daily with meals",
            "additionalInstruction": [{"coding": [{"system": SNOMED, "code": "311504000"}]}],
            "timing": {
                "repeat": {
                    "frequency": 2,
                    "period": 1,
                    "periodUnit": "d",
                    "when": ["CM"],
                    "boundsPeriod": {"start": "2015-01-15"},
                }
            },
            "asNeededBoolean": False,
            "route": {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral"}]},
            "doseAndRate": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/dose-rate-type",
                                "code": "ordered",
                            }
                        ]
                    },
                    "doseQuantity": {"value": 1, "unit": "TAB", "system": UCUM, "code": "{tbl}"},
                }
            ],
            "maxDosePerPeriod": {
                "numerator": {"value": 2, "system": UCUM, "code": "{tbl}"},
                "denominator": {"value": 1, "system": UCUM, "code": "d"},
            },
        }
    ],
    "dispenseRequest": {
        "validityPeriod": {"start": "2015-01-15", "end": "2016-01-15"},
        "numberOfRepeatsAllowed": 3,
        "quantity": {"value": 60, "unit": "TAB", "system": UCUM, "code": "{tbl}"},
        "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
    },
    "substitution": {"allowedBoolean": True},
}

APPOINTMENT: dict[str, Any] = {
    "resourceType": "Appointment",
    "id": "appt-1",
    "status": "booked",
    "serviceCategory": [
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/service-category", "code": "gp"}
            ]
        }
    ],
    "appointmentType": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "FOLLOWUP"}]
    },
    "priority": 5,
    "description": "Discussion on the results of your recent MRI",
    "start": "2013-12-10T09:00:00Z",
    "end": "2013-12-10T11:00:00Z",
    "minutesDuration": 120,
    "created": "2013-10-10",
    "comment": "Further expand on the results of the MRI",
    "participant": [
        {"actor": {"reference": "Patient/pat-1"}, "required": "required", "status": "accepted"},
        {
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "ATND",
                        }
                    ]
                }
            ],
            "actor": {"reference": "Practitioner/prac-1"},
            "status": "accepted",
        },
    ],
}

INVOICE: dict[str, Any] = {
    "resourceType": "Invoice",
    "id": "inv-1",
    "identifier": [{"system": "http://myHospital.org/Invoices", "value": "654321"}],
    "status": "issued",
    "subject": {"reference": "Patient/pat-1"},
    "date": "2017-01-25T08:00:00+01:00",
    "participant": [
        {
            "role": {"coding": [{"system": SNOMED, "code": "17561000", "display": "Cardiologist"}]},
            "actor": {"reference": "Practitioner/prac-1"},
        }
    ],
    "issuer": {"display": "University Medical Hospital"},
    "lineItem": [
        {
            "sequence": 1,
            "chargeItemReference": {"reference": "ChargeItem/example"},
            "priceComponent": [
                {"type": "base", "factor": 1.0, "amount": {"value": 40.00, "currency": "EUR"}},
                {
                    "type": "tax",
                    "code": {"text": "VAT"},
                    "amount": {"value": 7.6, "currency": "EUR"},
                },
            ],
        }
    ],
    "totalNet": {"value": 40, "currency": "EUR"},
    "totalGross": {"value": 47.60, "currency": "EUR"},
    "paymentTerms": "Pay within **30 days**.",
}

QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "id": "phq",
    "url": "http://example.org/Questionnaire/phq",
    "status": "active",
    "subjectType": ["Patient"],
    "date": "2020-03-01",
    "contained": [
        {
            "resourceType": "ValueSet",
            "id": "yesno",
            "status": "active",
            "compose": {
                "include": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0136",
                        "concept": [{"code": "Y"}, {"code": "N"}],
                    }
                ]
            },
        }
    ],
    "item": [
        {
            "linkId": "1",
            "text": "Lifestyle",
            "type": "group",
            "item": [
                {
                    "linkId": "1.1",
                    "text": "Do you smoke?",
                    "type": "choice",
                    "required": True,
                    "answerValueSet": "#yesno",
                },
                {
                    "linkId": "1.2",
                    "text": "Cigarettes per day",
                    "type": "integer",
                    "enableWhen": [
                        {
                            "question": "1.1",
                            "operator": "=",
                            "answerCoding": {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0136",
                                "code": "Y",
                            },
                        }
                    ],
                    "initial": [{"valueInteger": 0}],
                },
                {
                    "linkId": "1.3",
                    "type": "group",
                    "item": [
                        {
                            "linkId": "1.3.1",
                            "text": "Exercise type",
                            "type": "open-choice",
                            "repeats": True,
                            "answerOption": [
                                {"valueString": "walking"},
                                {"valueString": "swimming", "initialSelected": True},
                            ],
                        }
                    ],
                },
            ],
        },
        {"linkId": "2", "text": "Thank you", "type": "display"},
    ],
}

PARAMETERS: dict[str, Any] = {
    "resourceType": "Parameters",
    "parameter": [
        {"name": "start", "valueDate": "2020-01-01"},
        {"name": "count", "valueInteger": 10},
        {"name": "ratio", "valueDecimal": 0.25},
        {"name": "patient", "resource": {"resourceType": "Patient", "id": "p", "gender": "other"}},
        {
            "name": "options",
            "part": [
                {"name": "flag", "valueBoolean": True},
                {"name": "code", "valueCoding": {"system": "http://example.org", "code": "a"}},
            ],
        },
    ],
}

BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "id": "bundle-1",
    "type": "collection",
    "timestamp": "2024-01-05T10:00:00Z",
    "entry": [
        {"fullUrl": "http://example.org/fhir/Patient/pat-1", "resource": PATIENT},
        {"fullUrl": "http://example.org/fhir/Practitioner/prac-1", "resource": PRACTITIONER},
        {"fullUrl": "http://example.org/fhir/Encounter/enc-1", "resource": ENCOUNTER},
        {"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "resource": CONDITION},
    ],
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "Patient": PATIENT,
    "Practitioner": PRACTITIONER,
    "Encounter": ENCOUNTER,
    "Condition": CONDITION,
    "AllergyIntolerance": ALLERGY,
    "MedicationRequest": MEDICATION_REQUEST,
    "Appointment": APPOINTMENT,
    "Invoice": INVOICE,
    "Questionnaire": QUESTIONNAIRE,
    "Parameters": PARAMETERS,
    "Bundle": BUNDLE,
}


def parse(text: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return result


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_valid_example(name: str) -> None:
    resource = parse(json.dumps(EXAMPLES[name]))
    issues = validate_resource(resource, expect_type=name)
    assert [i.diagnostics for i in issues] == []


def test_valid_observation_with_decimal_quantity() -> None:
    resource = parse(OBSERVATION_JSON)
    assert resource["valueQuantity"]["value"] == Decimal("1.50")
    assert validate_resource(resource, expect_type="Observation") == []


def test_examples_stay_valid_inside_a_collection_bundle() -> None:
    entries = [{"resource": example} for example in EXAMPLES.values()]
    entries.append({"resource": json.loads(OBSERVATION_JSON)})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    assert validate_resource(parse(json.dumps(bundle))) == []
