"""Errors of the FHIR engine, rendered as OperationOutcome.

Every failure the engine reports is a :class:`FhirError` holding one or more :class:`Issue`
records. Each issue carries a FHIR issue-type code, a readable message, the FHIRPath of the
offending element where there is one, and a stable Fireside code (``FS-nnnn``) from
:mod:`platform_core.fhir.error_codes`, so that clients and docs can refer to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from platform_core.fhir.error_codes import ErrorCode

FS_CODE_SYSTEM = "https://fireside.health/fhir/CodeSystem/error-code"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found while processing a request."""

    error: ErrorCode
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: str = "error"

    @property
    def code(self) -> str:
        """The FHIR ``IssueType`` code (``invalid``, ``not-found`` ...)."""
        return self.error.issue_type

    def to_fhir(self) -> dict[str, Any]:
        """Render as an ``OperationOutcome.issue`` element."""
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.error.issue_type,
            "details": {
                "coding": [{"system": FS_CODE_SYSTEM, "code": self.error.code}],
                "text": f"{self.error.code}: {self.error.title}",
            },
            "diagnostics": f"{self.error.code}: {self.diagnostics}",
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def issue(
    error: ErrorCode,
    diagnostics: str | None = None,
    expression: str | Iterable[str] | None = None,
    severity: str = "error",
) -> Issue:
    """Build an :class:`Issue`; ``expression`` may be one FHIRPath or several."""
    if expression is None:
        expr: tuple[str, ...] = ()
    elif isinstance(expression, str):
        expr = (expression,)
    else:
        expr = tuple(expression)
    return Issue(error, diagnostics or error.title, expr, severity)


@dataclass
class FhirError(Exception):
    """A request failed; ``status`` is the HTTP status to answer with."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues) or f"HTTP {self.status}"

    @classmethod
    def of(
        cls,
        status: int,
        error: ErrorCode,
        diagnostics: str | None = None,
        expression: str | Iterable[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> FhirError:
        """A one-issue error."""
        return cls(status, [issue(error, diagnostics, expression)], dict(headers or {}))

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome resource for this error."""
        return operation_outcome(self.issues)


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource listing ``issues``."""
    rendered = [i.to_fhir() for i in issues]
    if not rendered:
        rendered = [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "All OK",
            }
        ]
    return {"resourceType": "OperationOutcome", "issue": rendered}


def informational_outcome(message: str) -> dict[str, Any]:
    """An OperationOutcome carrying one informational message (for successful answers)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": message}],
    }
