"""The Provenance a write through the API carries: which version of which resource, who
made it (the user's FHIR resource, else the OAuth client), when, and what kind of change.

It is written in the same transaction as the change it describes, so the two commit or roll
back together. Internal writers (imports, jobs, the audit log) are recorded elsewhere.
"""

from __future__ import annotations

from typing import Any

from platform_core.fhir.context import RequestContext
from platform_core.fhir.instants import format_instant
from platform_core.fhir.storage.records import StoredResource

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
CLIENT_SYSTEM = "https://fireside.health/fhir/NamingSystem/oauth-client"
AGENT_REFERENCE_TYPES = ("Practitioner/", "PractitionerRole/", "RelatedPerson/", "Patient/")


def activity_of(stored: StoredResource) -> str:
    """``CREATE``, ``UPDATE`` or ``DELETE`` (v3 DataOperation)."""
    if stored.deleted:
        return "DELETE"
    return "CREATE" if stored.version_id == 1 else "UPDATE"


def provenance_for(ctx: RequestContext, stored: StoredResource) -> dict[str, Any]:
    """A Provenance resource for the version ``stored``."""
    who: dict[str, Any]
    if ctx.actor.startswith(AGENT_REFERENCE_TYPES):
        who = {"reference": ctx.actor}
    elif ctx.client_id:
        who = {"identifier": {"system": CLIENT_SYSTEM, "value": ctx.client_id}}
    else:
        who = {"display": ctx.actor}
    agent: dict[str, Any] = {"who": who}
    if ctx.client_id and "reference" in who:
        agent["onBehalfOf"] = {"identifier": {"system": CLIENT_SYSTEM, "value": ctx.client_id}}
    activity = activity_of(stored)
    return {
        "resourceType": "Provenance",
        "target": [
            {"reference": f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}"}
        ],
        "recorded": format_instant(stored.last_updated),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": activity}]},
        "agent": [agent],
    }
