"""``register_operations``: custom ``$operations`` served where their OperationDefinition
says, listed in the CapabilityStatement, with errors as OperationOutcomes."""

from __future__ import annotations

from typing import Any

from platform_core import hookimpl
from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.plugin_api import FhirOperation, OperationCall
from tests.conftest import outcome_codes


def _definition(code: str, **levels: Any) -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "url": f"http://example.org/OperationDefinition/{code}",
        "name": code,
        "status": "active",
        "kind": "operation",
        "code": code,
        "system": False,
        "type": False,
        "instance": False,
        **levels,
    }


def _echo(call: OperationCall) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "level", "valueString": call.resource_type or "system"},
            {"name": "id", "valueString": call.resource_id or "-"},
            {"name": "query", "valueString": "&".join(f"{k}={v}" for k, v in call.query)},
        ],
    }


def _tag_patient(call: OperationCall) -> dict[str, Any]:
    repo = call.repository
    assert call.resource_id is not None
    current = repo.read(call.ctx, "Patient", call.resource_id, conn=call.conn)
    body = current.resource()
    body["active"] = True
    repo.update(call.ctx, call.conn, "Patient", call.resource_id, body)
    if (call.body or {}).get("parameter", [{}])[0].get("valueBoolean") is False:
        raise FhirError.of(409, error_codes.CONCURRENT_WRITE, "asked to fail after writing")
    if (call.body or {}).get("parameter", [{}])[0].get("valueString") == "crash":
        raise RuntimeError("plugin bug")
    return {"resourceType": "Parameters", "parameter": [{"name": "ok", "valueBoolean": True}]}


class Operations:
    @hookimpl
    def register_operations(self) -> list[FhirOperation]:
        return [
            FhirOperation(
                _definition("echo", system=True, type=True, instance=True, resource=["Patient"]),
                _echo,
            ),
            FhirOperation(
                _definition("activate", instance=True, resource=["Patient"], affectsState=True),
                _tag_patient,
            ),
        ]


def test_hook_register_operations_serves_every_level(make_app, client_for) -> None:
    fhir = client_for(make_app(Operations()))
    patient = fhir.create({"resourceType": "Patient"})

    def values(resp: Any) -> list[str]:
        assert resp.status_code == 200, resp.get_json()
        return [p["valueString"] for p in resp.get_json()["parameter"]]

    assert values(fhir.get("$echo?x=1")) == ["system", "-", "x=1"]
    assert values(fhir.get("Patient/$echo")) == ["Patient", "-", ""]
    assert values(fhir.get(f"Patient/{patient['id']}/$echo")) == ["Patient", patient["id"], ""]
    assert values(fhir.post("Patient/$echo", {"resourceType": "Parameters"}))[0] == "Patient"
    # Not defined for Observation, and unknown operations stay 404.
    assert fhir.get("Observation/$echo").status_code == 404
    assert fhir.get("$nothing").status_code == 404


def test_state_changing_operation_needs_post_and_commits(make_app, client_for) -> None:
    fhir = client_for(make_app(Operations()))
    patient = fhir.create({"resourceType": "Patient"})
    resp = fhir.get(f"Patient/{patient['id']}/$activate")
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST"
    resp = fhir.post(f"Patient/{patient['id']}/$activate", {"resourceType": "Parameters"})
    assert resp.status_code == 200
    assert fhir.get(f"Patient/{patient['id']}").get_json()["active"] is True


def test_failing_operation_rolls_back_what_it_wrote(make_app, client_for, counts) -> None:
    fhir = client_for(make_app(Operations()))
    patient = fhir.create({"resourceType": "Patient"})
    before = counts()
    fail = {"resourceType": "Parameters", "parameter": [{"name": "x", "valueBoolean": False}]}
    resp = fhir.post(f"Patient/{patient['id']}/$activate", fail)
    assert resp.status_code == 409
    crash = {"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "crash"}]}
    resp = fhir.post(f"Patient/{patient['id']}/$activate", crash)
    assert resp.status_code == 500
    assert outcome_codes(resp.get_json()) == ["FS-7002"]
    assert counts() == before
    assert "active" not in fhir.get(f"Patient/{patient['id']}").get_json()


def test_operations_run_as_the_caller(make_app, client_for) -> None:
    application = make_app(Operations())
    owner = client_for(application).create({"resourceType": "Patient"})
    other = client_for(application).create({"resourceType": "Patient"})
    patient_app = client_for(application, "patient/Patient.rs", patient=owner["id"])
    resp = patient_app.post(f"Patient/{other['id']}/$activate", {"resourceType": "Parameters"})
    assert resp.status_code in {403, 404}  # the repository enforces the caller's scopes


def test_operations_are_listed_in_the_capability_statement(make_app, client_for) -> None:
    fhir = client_for(make_app(Operations()))
    statement = fhir.get("metadata").get_json()
    rest = statement["rest"][0]
    assert {"name": "echo", "definition": "http://example.org/OperationDefinition/echo"} in rest[
        "operation"
    ]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert {op["name"] for op in patient["operation"]} >= {"validate", "echo", "activate"}
    observation = next(r for r in rest["resource"] if r["type"] == "Observation")
    assert "echo" not in {op["name"] for op in observation["operation"]}


def test_an_operation_may_not_replace_a_core_one(make_app) -> None:
    class Clash:
        @hookimpl
        def register_operations(self) -> list[FhirOperation]:
            return [FhirOperation(_definition("validate", type=True), _echo)]

    try:
        make_app(Clash())
    except ValueError as exc:
        assert "$validate" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a clashing operation was accepted")
