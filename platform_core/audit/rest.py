"""The audit record of one FHIR REST request."""

from __future__ import annotations

from platform_core.audit.records import AuditRecord
from platform_core.fhir.context import RequestContext
from platform_core.fhir.request import FhirRequest

_ACTIONS = {
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "operation": "E",
    "transaction": "E",
}


def interaction_of(request: FhirRequest) -> str:
    """The FHIR restful-interaction code a request performs (``read``, ``search-type``...)."""
    parts = [p for p in request.path.split("/") if p]
    method = request.method
    if any(p.startswith("$") for p in parts):
        return "operation"
    if method in {"GET", "HEAD"}:
        if not parts:
            return "search-system"
        if parts[-1] == "_history" or (len(parts) == 4 and parts[2] == "_history"):
            if len(parts) == 1:
                return "history-system"
            if len(parts) == 2:
                return "history-type"
            return "history-instance" if len(parts) == 3 else "vread"
        if len(parts) == 1:
            return "search-type"
        return "read" if len(parts) == 2 else "search-compartment"
    if method == "POST":
        if not parts:
            return "transaction"
        return "search-type" if parts[-1] == "_search" else "create"
    return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())


def rest_record(
    request: FhirRequest,
    status: int,
    ctx: RequestContext | None,
    *,
    location: str | None = None,
    remote_addr: str | None = None,
) -> AuditRecord:
    """Who did what to which resource, from where, with which outcome. ``location`` (the
    response's ``Location``) names the resource a create made."""
    interaction = interaction_of(request)
    parts = [p for p in request.path.split("/") if p]
    created = location.split("/fhir/", 1)[-1].split("/_history", 1)[0] if location else None
    if created and created.count("/") == 1:
        entity = created
    elif len(parts) >= 2 and not parts[1].startswith(("$", "_")):
        entity = f"{parts[0]}/{parts[1]}"
    else:
        query = "&".join(f"{k}={v}" for k, v in request.params)
        entity = request.path + (f"?{query}" if query else "")
    outcome = "0" if status < 400 else ("8" if status >= 500 else "4")
    return AuditRecord(
        kind="rest",
        action=_ACTIONS.get(interaction, "R"),
        outcome=outcome,
        subtype=interaction,
        who=ctx.actor if ctx is not None else None,
        client_id=ctx.client_id if ctx is not None else None,
        remote_addr=ctx.remote_addr if ctx is not None else remote_addr,
        entity=entity or None,
        description=f"HTTP {status}",
    )
