"""Reference resolution inside a transaction.

Before any entry is processed, every entry's identity is settled: a POST gets its id up front
(or, with ``ifNoneExist``, the id of the existing match), a conditional PUT the id of its match.
Then every ``reference`` in every entry's resource that names a ``fullUrl`` of the bundle
(``urn:uuid:...`` or an absolute URL) or a condition (``Patient?identifier=...``) is rewritten
to ``Type/id``. A condition must match exactly one resource.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError


def rewrite_references(
    node: Any,
    mapping: dict[str, str],
    resolve_condition: Callable[[str], str],
) -> Any:
    """A copy of ``node`` with every mapped or conditional reference replaced."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                out[key] = _target(value, mapping, resolve_condition)
            else:
                out[key] = rewrite_references(value, mapping, resolve_condition)
        return out
    if isinstance(node, list):
        return [rewrite_references(v, mapping, resolve_condition) for v in node]
    return node


def _target(ref: str, mapping: dict[str, str], resolve_condition: Callable[[str], str]) -> str:
    if ref in mapping:
        return mapping[ref]
    if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
        raise FhirError.of(
            404,
            error_codes.UNRESOLVED_REFERENCE,
            f"Reference {ref!r} names no fullUrl in this Bundle",
        )
    head, sep, _ = ref.partition("?")
    if sep and "/" not in head and head[:1].isupper():
        return resolve_condition(ref)
    return ref
