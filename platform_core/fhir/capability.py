"""``/metadata``: the CapabilityStatement, generated from what the server actually supports.

It is built from the same tables the server runs on (the resource types the validator knows,
the route table's interactions, the search parameters that are indexed), so it cannot claim
more than works.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from platform_core.config import Settings
from platform_core.fhir import definitions
from platform_core.fhir.search import registry

SOFTWARE_VERSION = "0.1.0"
TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)


def capability_statement(
    settings: Settings, reg: registry.SearchRegistry = registry.OFFICIAL
) -> dict[str, Any]:
    """The server's CapabilityStatement (active custom SearchParameters included)."""
    statement = _build(
        settings.fhir_base_url, settings.base_url.rstrip("/"), settings.auth_required
    )
    active = [c for c in reg.custom if c.status == "active"]
    if not active:
        return statement
    statement = copy.deepcopy(statement)
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for item in active:
        for base in item.bases:
            entry = {
                "name": item.param.code,
                "definition": f"{settings.fhir_base_url}/SearchParameter/{item.resource_id}",
                "type": item.param.type,
            }
            by_type[base]["searchParam"].append(entry)
    return statement


def _security(server_url: str) -> dict[str, Any]:
    """``rest.security``: SMART on FHIR, with the OAuth endpoints (the SMART App Launch
    ``oauth-uris`` extension; ``.well-known/smart-configuration`` has the full list)."""
    oauth = f"{server_url}/oauth2"
    return {
        "cors": True,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": f"{oauth}/authorize"},
                    {"url": "token", "valueUri": f"{oauth}/token"},
                    {"url": "introspect", "valueUri": f"{oauth}/introspect"},
                    {"url": "revoke", "valueUri": f"{oauth}/revoke"},
                ],
            }
        ],
    }


@cache
def _build(base_url: str, server_url: str = "", auth_required: bool = False) -> dict[str, Any]:
    resources = []
    for resource_type in sorted(definitions.resource_types()):
        params = [
            {"name": p.code, "type": p.type}
            for p in registry.parameters_for(resource_type).values()
            if registry.is_searchable(resource_type, p)
        ]
        resources.append(
            {
                "type": resource_type,
                "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
                "versioning": "versioned-update",
                "readHistory": True,
                "updateCreate": True,
                "conditionalCreate": True,
                "conditionalRead": "full-support",
                "conditionalUpdate": True,
                "conditionalDelete": "single",
                "searchParam": sorted(params, key=lambda p: p["name"]),
                "operation": [
                    {
                        "name": "validate",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                    }
                ],
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-21",
        "publisher": "Fireside",
        "kind": "instance",
        "software": {"name": "Fireside", "version": SOFTWARE_VERSION},
        "implementation": {"description": "Fireside FHIR server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                **({"security": _security(server_url)} if auth_required else {}),
                "resource": resources,
                # Compartment search works for every compartment R4 defines.
                "compartment": [
                    definitions.compartment_definition(c)["url"] for c in definitions.COMPARTMENTS
                ],
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                ],
            }
        ],
    }
