"""Plugins' ``$operations`` (the ``register_operations`` hook) and the CapabilityStatement
hook, as the FHIR router uses them.

An operation is served at the levels its OperationDefinition names (``system``, ``type``,
``instance``; ``resource`` lists the types), by GET only when ``affectsState`` is false, and
by POST with a ``Parameters`` (or any resource) body. A state-changing operation runs inside
one write transaction: what its handler writes commits or rolls back with it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from sqlalchemy import Connection

from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.request import FhirRequest, FhirResponse
from platform_core.plugin_api import FhirOperation, OperationCall

log = logging.getLogger(__name__)

CORE_OPERATIONS = frozenset({"validate", "everything", "index-status"})


class PluginOperations:
    """The operations the plugins registered, by code."""

    def __init__(self, operations: list[FhirOperation], hook: Any = None) -> None:
        self._hook = hook
        self.by_code: dict[str, FhirOperation] = {}
        for op in operations:
            if op.definition.get("resourceType") != "OperationDefinition":
                raise ValueError(f"operation {op.definition!r} needs an OperationDefinition")
            if op.code in CORE_OPERATIONS or op.code in self.by_code:
                raise ValueError(f"the operation ${op.code} is already defined")
            self.by_code[op.code] = op

    def find(self, code: str, level: str, resource_type: str | None) -> FhirOperation | None:
        """The operation ``$code`` served at ``level`` (system, type or instance)."""
        op = self.by_code.get(code)
        if op is None or not op.definition.get(level):
            return None
        types = op.definition.get("resource") or []
        if level != "system" and types and resource_type not in types and "Resource" not in types:
            return None
        return op

    def call(
        self,
        op: FhirOperation,
        env: Any,
        request: FhirRequest,
        level: str,
        resource_type: str | None,
        resource_id: str | None,
        body: dict[str, Any] | None,
        conn: Connection | None,
    ) -> FhirResponse:
        """Run the handler; errors become OperationOutcomes."""
        affects_state = bool(op.definition.get("affectsState"))
        if request.method in {"GET", "HEAD"} and affects_state:
            raise FhirError.of(
                405,
                error_codes.METHOD_NOT_ALLOWED,
                f"${op.code} changes data: call it with POST",
                headers={"Allow": "POST"},
            )

        def run(write_conn: Connection | None) -> dict[str, Any]:
            call = OperationCall(
                env.ctx,
                env.repository,
                request.method,
                resource_type,
                resource_id,
                list(request.params),
                body,
                write_conn,
            )
            try:
                return op.handler(call)
            except FhirError:
                raise
            except Exception:
                log.exception("the handler of $%s failed", op.code)
                raise FhirError.of(
                    500, error_codes.PLUGIN_FAILED, f"The operation ${op.code} failed"
                ) from None

        if affects_state:
            if conn is not None:
                result = run(conn)
            else:
                with env.repository.transaction() as own:
                    result = run(own)
        else:
            result = run(None)
        return FhirResponse(200, resource=result)

    def prepare_capability(self, statement: dict[str, Any]) -> dict[str, Any]:
        """The statement with the plugins' operations and ``prepare_capability_statement``
        changes (a copy: the caller's stays as it was)."""
        if not self.by_code and (
            self._hook is None or not self._hook.prepare_capability_statement.get_hookimpls()
        ):
            return statement
        statement = copy.deepcopy(statement)
        rest = statement["rest"][0]
        by_type = {r["type"]: r for r in rest.get("resource", [])}
        for op in self.by_code.values():
            entry = {"name": op.code, "definition": _canonical(op)}
            if op.definition.get("system"):
                rest.setdefault("operation", []).append(entry)
            if op.definition.get("type") or op.definition.get("instance"):
                types = op.definition.get("resource") or []
                targets = (
                    by_type.values()
                    if "Resource" in types
                    else (by_type[t] for t in types if t in by_type)
                )
                for resource in targets:
                    resource.setdefault("operation", []).append(dict(entry))
        if self._hook is not None:
            # hook: prepare_capability_statement (each plugin on a copy, so one that fails
            # leaves no half-made change behind)
            for impl in reversed(self._hook.prepare_capability_statement.get_hookimpls()):
                candidate = copy.deepcopy(statement)
                try:
                    impl.function(statement=candidate)
                except Exception:  # documented: logged, served without this plugin's changes
                    log.exception(
                        "plugin %s failed in prepare_capability_statement", impl.plugin_name
                    )
                    continue
                statement = candidate
        return statement


def _canonical(op: FhirOperation) -> str:
    return str(op.definition.get("url") or f"urn:fireside:operation:{op.code}")
