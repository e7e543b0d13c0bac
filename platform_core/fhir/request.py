"""The engine's transport-free request and response.

The Flask blueprint turns an HTTP request into a :class:`FhirRequest` and a
:class:`FhirResponse` back into HTTP; nothing else in the engine knows about HTTP libraries.
Transaction bundles build ``FhirRequest`` objects for their entries the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from platform_core.fhir import jsonio

FHIR_JSON = "application/fhir+json"


@dataclass
class FhirRequest:
    """One FHIR interaction as the engine sees it.

    ``path`` is relative to the FHIR base, without leading slash (``Patient/1/_history/2``).
    ``params`` keeps repeated query parameters in order. ``headers`` has lower-case names.
    ``resource`` is set instead of ``body`` when the request comes from inside the server
    (a transaction entry) and is already parsed.
    """

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    resource: Any = None
    assigned_id: str | None = None
    """For creates inside a transaction: the id chosen up front so references resolve."""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header's value by lower-case name."""
        return self.headers.get(name, default)

    def param(self, name: str) -> str | None:
        """The last value of a query parameter, or None."""
        value = None
        for key, val in self.params:
            if key == name:
                value = val
        return value

    def param_values(self, name: str) -> list[str]:
        """Every value of a query parameter, in order."""
        return [val for key, val in self.params if key == name]

    @property
    def segments(self) -> list[str]:
        """The path split on ``/`` with empty segments removed."""
        return [s for s in self.path.split("/") if s]


@dataclass
class FhirResponse:
    """The answer: status, headers, and either a resource dict or already-encoded JSON.

    ``raw`` lets the read path hand stored JSON text straight to the client without parsing.
    """

    status: int
    resource: dict[str, Any] | None = None
    raw: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    last_updated: str | None = None
    """``meta.lastUpdated`` of the version written or read, for Bundle response entries."""

    def has_body(self) -> bool:
        """True when there is something to send."""
        return self.resource is not None or self.raw is not None

    def body_bytes(self, *, pretty: bool = False) -> bytes:
        """The encoded body (empty when there is none)."""
        if self.raw is not None:
            if pretty:
                return jsonio.reformat(self.raw, pretty=True)
            return self.raw.encode("utf-8") if isinstance(self.raw, str) else self.raw
        if self.resource is not None:
            return jsonio.dumps(self.resource, pretty=pretty)
        return b""

    def body_resource(self) -> dict[str, Any] | None:
        """The body as a dict (parsing ``raw`` if needed)."""
        if self.resource is not None:
            return self.resource
        if self.raw is not None:
            return jsonio.loads_stored(self.raw)
        return None


def split_params(pairs: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Separate result-control parameters (``_format``, ``_pretty``) from the rest."""
    kept, control = [], []
    for key, value in pairs:
        if key in {"_format", "_pretty"}:
            control.append(key)
        else:
            kept.append((key, value))
    return kept, control
