"""The FHIR ``patch`` interaction's two patch formats: JSON Patch and FHIRPath Patch.

Both take a resource dict and a patch document and return a new, patched resource dict (the
inputs are never mutated); failures are ``FhirError`` 400 ``INVALID_PATCH`` for a malformed
document and 422 ``PATCH_FAILED`` for a patch that cannot be applied to this resource. The
caller re-validates the result like any update.
"""

from __future__ import annotations

from platform_core.fhir.patch.fhirpath_patch import apply_fhirpath_patch, is_repeating
from platform_core.fhir.patch.json_patch import apply_json_patch, validate_json_patch

__all__ = ["apply_fhirpath_patch", "apply_json_patch", "is_repeating", "validate_json_patch"]
