"""Batch Bundles: every entry is processed on its own and answered on its own."""

from __future__ import annotations

from typing import Any

from platform_core.fhir.bundles.entries import parse_entries, response_entry
from platform_core.fhir.errors import FhirError
from platform_core.fhir.interactions.common import Env, prefer
from platform_core.fhir.request import FhirRequest, FhirResponse


def process_batch(env: Env, request: FhirRequest, bundle: dict[str, Any]) -> FhirResponse:
    """Run each entry in its own database transaction; failures become entry outcomes."""
    from platform_core.fhir.router import dispatch

    entries = parse_entries(bundle, env.base_url)
    include = prefer(request, "return") == "representation"
    out = []
    for entry in entries:
        try:
            response = dispatch(env, entry.to_request(), None)
        except FhirError as exc:
            response = FhirResponse(exc.status, resource=exc.outcome())
        out.append(response_entry(response, include_resource=include or entry.method == "GET"))
    result: dict[str, Any] = {"resourceType": "Bundle", "type": "batch-response"}
    if out:
        result["entry"] = out
    return FhirResponse(200, resource=result)
