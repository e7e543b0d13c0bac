"""JSON Patch (RFC 6902) for the FHIR ``patch`` interaction.

Why a wrapper around :mod:`jsonpatch`: the library's errors must become FHIR errors with the
right status (a malformed document is the client's syntax error, 400 ``INVALID_PATCH``; a
well-formed patch that cannot be applied to *this* resource, such as a failing ``test`` or a
path that does not exist, is 422 ``PATCH_FAILED``), the document is checked up front so that
no half-understood operation is ever run, and neither the stored resource nor the patch
document may be mutated or aliased by the result.

The result is not validated here: the caller re-validates the patched resource as it would
an update. Numbers parsed as :class:`decimal.Decimal` stay ``Decimal`` (values are copied
structurally, never re-serialised).
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from platform_core.fhir.error_codes import INVALID_PATCH, PATCH_FAILED
from platform_core.fhir.errors import FhirError
from platform_core.fhir.representation import clone

_OPERATIONS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_NEEDS_VALUE = frozenset({"add", "replace", "test"})
_NEEDS_FROM = frozenset({"move", "copy"})


def _invalid(message: str) -> FhirError:
    return FhirError.of(400, INVALID_PATCH, message)


def _check_pointer(pointer: Any, where: str, member: str) -> None:
    """RFC 6901 syntax: empty, or ``/``-separated tokens where ``~`` is ``~0`` or ``~1``."""
    if not isinstance(pointer, str):
        raise _invalid(f"{where}: '{member}' must be a string JSON Pointer")
    if pointer and not pointer.startswith("/"):
        raise _invalid(f"{where}: '{member}' {pointer!r} must be empty or start with '/'")
    i = pointer.find("~")
    while i != -1:
        if pointer[i + 1 : i + 2] not in ("0", "1"):
            raise _invalid(f"{where}: '{member}' {pointer!r} has an invalid '~' escape")
        i = pointer.find("~", i + 1)


def validate_json_patch(patch_document: object) -> list[dict[str, Any]]:
    """Check that ``patch_document`` is a well-formed RFC 6902 document and return it.

    Unknown members of an operation are ignored, as RFC 6902 section 4 requires.
    """
    if not isinstance(patch_document, list):
        raise _invalid("A JSON Patch document must be a JSON array of operation objects")
    operations: list[dict[str, Any]] = []
    for i, operation in enumerate(patch_document):
        where = f"operation {i}"
        if not isinstance(operation, dict):
            raise _invalid(f"{where}: each operation must be a JSON object")
        op = operation.get("op")
        if not isinstance(op, str) or op not in _OPERATIONS:
            raise _invalid(
                f"{where}: 'op' must be one of {', '.join(sorted(_OPERATIONS))}, got {op!r}"
            )
        if "path" not in operation:
            raise _invalid(f"{where}: '{op}' needs a 'path'")
        _check_pointer(operation["path"], where, "path")
        if op in _NEEDS_VALUE and "value" not in operation:
            raise _invalid(f"{where}: '{op}' needs a 'value'")
        if op in _NEEDS_FROM:
            if "from" not in operation:
                raise _invalid(f"{where}: '{op}' needs a 'from'")
            _check_pointer(operation["from"], where, "from")
        operations.append(operation)
    return operations


def _describe(operation: dict[str, Any]) -> str:
    text = f"{operation['op']} {operation['path']!r}"
    if "from" in operation:
        text += f" from {operation['from']!r}"
    return text


def apply_json_patch(resource: dict[str, Any], patch_document: object) -> dict[str, Any]:
    """Apply an RFC 6902 patch to ``resource`` and return the patched copy.

    Raises ``FhirError`` 400 ``INVALID_PATCH`` for a malformed document and 422
    ``PATCH_FAILED`` when an operation cannot be applied (failed ``test``, missing path, index
    out of range, or a result that is not a JSON object).
    """
    operations = validate_json_patch(patch_document)
    document: Any = clone(resource)
    for i, operation in enumerate(operations):
        # Apply one operation at a time so that a failure names the operation; each value is
        # copied so that the result never aliases the caller's patch document.
        try:
            patch = jsonpatch.JsonPatch([clone(operation)])
            document = patch.apply(document, in_place=True)
        except jsonpatch.InvalidJsonPatch as exc:
            raise _invalid(f"operation {i} ({_describe(operation)}): {exc}") from exc
        except jsonpatch.JsonPatchTestFailed as exc:
            raise FhirError.of(
                422, PATCH_FAILED, f"operation {i} ({_describe(operation)}): test failed: {exc}"
            ) from exc
        except (
            jsonpatch.JsonPatchException,
            jsonpointer.JsonPointerException,
            KeyError,
            IndexError,
            TypeError,
            ValueError,
        ) as exc:
            raise FhirError.of(
                422, PATCH_FAILED, f"operation {i} ({_describe(operation)}) failed: {exc}"
            ) from exc
    if not isinstance(document, dict):
        raise FhirError.of(422, PATCH_FAILED, "The patched document is not a JSON object")
    return document
