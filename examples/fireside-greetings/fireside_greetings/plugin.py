"""The greetings plugin: what it adds to Fireside, one hook each.

- ``register_scopes``: the scope ``greetings/hello.read``;
- ``register_blueprints``: ``GET /api/greetings/hello?name=...`` (needs that scope);
- ``register_operations``: ``GET /fhir/Patient/[id]/$greet``, a greeting for a patient;
- ``fhir_resource_before_write``: refuses Patients without a name;
- ``register_commands``: ``python manage.py greet NAME``.
"""

from __future__ import annotations

import argparse
from typing import Any

from flask import Blueprint, request

from platform_core import hookimpl
from platform_core.plugin_api import (
    Command,
    FhirOperation,
    OperationCall,
    PendingWrite,
    RejectWrite,
    ScopeDefinition,
)
from platform_core.web.api import ApiBlueprint, Problem, caller, require

SCOPE = "greetings/hello.read"

api = ApiBlueprint("greetings", __name__, url_prefix="/api/greetings")


def greeting(name: str) -> str:
    """The greeting for ``name``."""
    return f"Hello, {name}!"


@api.get("/hello")
@api.response(200)
def hello() -> dict[str, str]:
    """Greet someone by name."""
    require(caller(), scope=SCOPE)
    name = request.args.get("name", "").strip()
    if not name:
        raise Problem(400, "Give a name: ?name=...", title="Bad Request")
    return {"greeting": greeting(name)}


GREET = {
    "resourceType": "OperationDefinition",
    "url": "http://example.org/fireside/OperationDefinition/Patient-greet",
    "name": "Greet",
    "status": "active",
    "kind": "operation",
    "code": "greet",
    "system": False,
    "type": False,
    "instance": True,
    "resource": ["Patient"],
    "affectsState": False,
    "parameter": [
        {"name": "greeting", "use": "out", "min": 1, "max": "1", "type": "string"},
    ],
}


def greet_patient(call: OperationCall) -> dict[str, Any]:
    """``Patient/[id]/$greet``: read as the caller, so their scopes apply."""
    assert call.resource_id is not None
    patient = call.repository.read(call.ctx, "Patient", call.resource_id).resource()
    names = patient.get("name") or [{}]
    given = " ".join(names[0].get("given", [])) or names[0].get("family", "friend")
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "greeting", "valueString": greeting(given)}],
    }


def greet_command(args: argparse.Namespace) -> int:
    """``python manage.py greet NAME``."""
    print(greeting(args.name))
    return 0


@hookimpl
def register_scopes() -> list[ScopeDefinition]:
    return [ScopeDefinition(SCOPE, "Say hello to you")]


@hookimpl
def register_blueprints() -> list[Blueprint]:
    return [api]


@hookimpl
def register_operations() -> list[FhirOperation]:
    return [FhirOperation(GREET, greet_patient)]


@hookimpl
def fhir_resource_before_write(write: PendingWrite) -> None:
    named = write.resource is None or write.resource.get("name")
    if write.resource_type == "Patient" and not named:
        raise RejectWrite("A Patient needs a name to be greeted", expression="Patient.name")


@hookimpl
def register_commands() -> list[Command]:
    return [
        Command(
            "greet",
            "print a greeting",
            greet_command,
            configure=lambda parser: parser.add_argument("name"),
        )
    ]
