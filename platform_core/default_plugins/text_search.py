"""Fallback for FHIR ``_text`` and ``_content``: without a global search plugin they are
not supported, and the caller is told so (400)."""

from __future__ import annotations

from platform_core import hookimpl
from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.plugin_api import TextSearch


@hookimpl(trylast=True)
def fhir_text_search(search: TextSearch) -> list[str] | None:
    """Refuse: no search backend is active."""
    raise FhirError.of(
        400,
        error_codes.UNSUPPORTED_SEARCH_FEATURE,
        f"{search.parameter} needs the global search plugin, which is not active on this server",
        search.parameter,
    )
