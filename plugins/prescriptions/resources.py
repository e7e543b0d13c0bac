"""The FHIR R4 resources this plugin writes, and the JSON view of them its API answers with.

A prescription is a MedicationRequest (status ``active``, intent ``order``); an allergy
found by the check is a DetectedIssue (code ``ALGY``, "Allergy Alert", from v3 ActCode,
the code the R4 ``detectedissue-category`` value set lists for it) implicating the
MedicationRequest and the AllergyIntolerance.
"""

from __future__ import annotations

from typing import Any

from plugins.prescriptions.order import Amount, Coded, PrescriptionOrder

UCUM = "http://unitsofmeasure.org"
UCUM_UNITS = frozenset(
    {
        "mL", "L", "dL", "uL", "ug", "mg", "g", "kg", "ng", "mmol", "umol", "mol",
        "[IU]", "U", "[drp]", "mg/mL", "mg/kg", "%",
    }
)  # fmt: skip
"""Units written as UCUM codes (case-sensitive: ``mL``, not ``ml``). Other units
(``tablet``, ``puff``) are kept as plain ``unit`` text without a system."""
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ALLERGY_ALERT = {"system": ACT_CODE, "code": "ALGY", "display": "Allergy Alert"}
SERVER_AUTHOR = {
    "type": "Device",
    "identifier": {"system": "https://fireside.health/fhir/NamingSystem/device", "value": "server"},
    "display": "Fireside allergy check",
}
"""DetectedIssue.author: the server's check, not a person."""


def quantity(amount: Amount) -> dict[str, Any]:
    """A FHIR SimpleQuantity; UCUM units carry the UCUM system and code."""
    value: dict[str, Any] = {"value": amount.value, "unit": amount.unit}
    if amount.unit in UCUM_UNITS:
        value["system"] = UCUM
        value["code"] = amount.unit
    return value


def concept(coded: Coded) -> dict[str, Any]:
    """A CodeableConcept of one coding (and/or a text)."""
    out: dict[str, Any] = {}
    if coded.system is not None and coded.code is not None:
        coding = {"system": coded.system, "code": coded.code}
        if coded.display:
            coding["display"] = coded.display
        out["coding"] = [coding]
    text = coded.text or coded.display
    if text:
        out["text"] = text
    return out


def medication_request(
    order: PrescriptionOrder,
    patient_id: str,
    practitioner_ref: str,
    authored_on: str,
    *,
    prior: str | None = None,
) -> dict[str, Any]:
    """The MedicationRequest of ``order``: active, an order, requested by the practitioner."""
    dosage = order.dosage
    instruction: dict[str, Any] = {
        "text": dosage.text,
        "timing": {
            "repeat": {
                "frequency": dosage.frequency,
                "period": dosage.period,
                "periodUnit": dosage.period_unit,
            }
        },
    }
    if dosage.route is not None:
        instruction["route"] = concept(dosage.route)
    if dosage.dose is not None:
        instruction["doseAndRate"] = [{"doseQuantity": quantity(dosage.dose)}]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": concept(order.medication),
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored_on,
        "requester": {"reference": practitioner_ref},
        "dosageInstruction": [instruction],
        "dispenseRequest": {
            "validityPeriod": {
                "start": order.validity_start.isoformat(),
                "end": order.validity_end.isoformat(),
            },
            "numberOfRepeatsAllowed": order.refills,
            "quantity": quantity(order.quantity),
        },
    }
    if order.note:
        resource["note"] = [{"text": order.note}]
    if prior is not None:
        resource["priorPrescription"] = {"reference": f"MedicationRequest/{prior}"}
    return resource


def allergy_alert(
    patient_id: str,
    medication_request_id: str,
    allergy_id: str,
    detail: str,
    identified: str,
) -> dict[str, Any]:
    """A DetectedIssue: the new prescription may set off one of the patient's allergies."""
    return {
        "resourceType": "DetectedIssue",
        "status": "final",
        "code": {"coding": [dict(ALLERGY_ALERT)], "text": "Allergy alert"},
        "severity": "high",
        "patient": {"reference": f"Patient/{patient_id}"},
        "identifiedDateTime": identified,
        "author": SERVER_AUTHOR,
        "implicated": [
            {"reference": f"MedicationRequest/{medication_request_id}"},
            {"reference": f"AllergyIntolerance/{allergy_id}"},
        ],
        "detail": detail,
    }


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id in a relative reference ``{"reference": "<Type>/<id>"}``, else None."""
    if not isinstance(reference, dict):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str):
        return None
    kind, _, rid = ref.partition("/")
    if kind != resource_type or not rid or "/" in rid:
        return None
    return rid


def medication_display(resource: dict[str, Any]) -> str:
    """The words a person reads for the medication of a MedicationRequest."""
    med = resource.get("medicationCodeableConcept") or {}
    if med.get("text"):
        return str(med["text"])
    for coding in med.get("coding") or []:
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding["code"])
    ref = resource.get("medicationReference") or {}
    return str(ref.get("display") or ref.get("reference") or "unknown medication")


def issue_view(issue: dict[str, Any]) -> dict[str, Any]:
    """A DetectedIssue as the API shows it."""
    allergy = next(
        (
            rid
            for ref in issue.get("implicated") or []
            if (rid := reference_id(ref, "AllergyIntolerance")) is not None
        ),
        None,
    )
    return {"id": issue["id"], "detail": issue.get("detail"), "allergy": allergy}


def prescription_view(resource: dict[str, Any], issues: list[dict[str, Any]]) -> dict[str, Any]:
    """A MedicationRequest as the API shows it (missing parts of one written over FHIR REST
    read as null)."""
    med = resource.get("medicationCodeableConcept") or {}
    coding = (med.get("coding") or [{}])[0]
    dosage = (resource.get("dosageInstruction") or [{}])[0]
    dispense = resource.get("dispenseRequest") or {}
    validity = dispense.get("validityPeriod") or {}
    amount = dispense.get("quantity")
    return {
        "id": resource["id"],
        "status": resource.get("status"),
        "patient": reference_id(resource.get("subject"), "Patient"),
        "requester": reference_id(resource.get("requester"), "Practitioner"),
        "medication": {
            "system": coding.get("system"),
            "code": coding.get("code"),
            "display": medication_display(resource),
        },
        "dosage": dosage.get("text"),
        "authored_on": resource.get("authoredOn"),
        "validity": {"start": validity.get("start"), "end": validity.get("end")},
        "refills": dispense.get("numberOfRepeatsAllowed"),
        "quantity": (
            {"value": amount.get("value"), "unit": amount.get("unit") or amount.get("code")}
            if isinstance(amount, dict)
            else None
        ),
        "note": next((n.get("text") for n in resource.get("note") or []), None),
        "status_reason": (resource.get("statusReason") or {}).get("text"),
        "replaces": reference_id(resource.get("priorPrescription"), "MedicationRequest"),
        "detected_issues": [issue_view(i) for i in issues],
    }
