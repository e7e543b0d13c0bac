"""An :class:`AuditRecord` as a FHIR R4 AuditEvent resource."""

from __future__ import annotations

from typing import Any

from platform_core.audit.records import KINDS, AuditRecord
from platform_core.fhir.instants import format_instant

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
FIRESIDE_SUBTYPE = "https://fireside.health/fhir/CodeSystem/audit-subtype"
OUTCOME_TEXT = {"0": "success", "4": "minor failure", "8": "serious failure", "12": "major failure"}


def audit_event(record: AuditRecord) -> dict[str, Any]:
    """The AuditEvent of ``record``: who (agent), what (entity), when, from where, outcome."""
    code, display = KINDS[record.kind]
    system = AUDIT_TYPE if record.kind == "rest" else DICOM
    agent: dict[str, Any] = {"requestor": True}
    if record.who and "/" in record.who and not record.who.startswith("User/"):
        agent["who"] = {"reference": record.who}
    elif record.who:
        agent["who"] = {"display": record.who}
    if record.client_id:
        agent["altId"] = record.client_id
    if record.remote_addr:
        agent["network"] = {"address": record.remote_addr, "type": "2"}
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": system, "code": code, "display": display},
        "action": record.action,
        "recorded": format_instant(record.recorded),
        "outcome": record.outcome,
        "outcomeDesc": record.description or OUTCOME_TEXT.get(record.outcome, record.outcome),
        "agent": [agent],
        "source": {"observer": {"display": "Fireside"}},
    }
    if record.subtype:
        sub_system = RESTFUL if record.kind == "rest" else FIRESIDE_SUBTYPE
        event["subtype"] = [{"system": sub_system, "code": record.subtype}]
    if record.entity:
        kind, _, rest = record.entity.partition("/")
        if rest and kind[:1].isupper() and "?" not in record.entity and "/" not in rest:
            event["entity"] = [{"what": {"reference": record.entity}}]
        else:
            event["entity"] = [{"what": {"display": record.entity[:1000]}}]
    return event
