"""The codes of the value sets that R4 binds with strength ``required``.

``valuesets.json`` holds the expansion of each such value set (system -> codes), computed
by ``tools/build_definitions.py`` from HL7's code systems. A few cannot be expanded from
the R4 files because their codes live in external code systems (mime types, ISO 4217
currencies, UCUM, a LOINC answer list); they are listed as not checkable and callers skip
them. Value sets that no required binding uses are not shipped and are not checkable either.
"""

from __future__ import annotations

import functools

from platform_core.fhir.definitions._data import valuesets_document


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


@functools.cache
def value_set_systems(url: str) -> dict[str, frozenset[str]] | None:
    """Codes of a value set grouped by code system; None when not checkable."""
    expansion = valuesets_document()["valueSets"].get(_canonical(url))
    if expansion is None:
        return None
    return {system: frozenset(codes) for system, codes in expansion.items()}


@functools.cache
def value_set_codes(url: str) -> frozenset[tuple[str, str]] | None:
    """The (system, code) pairs of a value set (``url`` may carry ``|version``).

    None means "not checkable": the value set is not expandable from the R4 files or is not
    one of those used by a required binding.
    """
    systems = value_set_systems(url)
    if systems is None:
        return None
    return frozenset((system, code) for system, codes in systems.items() for code in codes)


@functools.cache
def value_set_code_values(url: str) -> frozenset[str] | None:
    """The bare codes of a value set, for ``code`` elements (the system is implied)."""
    systems = value_set_systems(url)
    if systems is None:
        return None
    return frozenset(code for codes in systems.values() for code in codes)


def not_checkable_value_sets() -> dict[str, str]:
    """Required-binding value sets that cannot be expanded, with the reason."""
    return dict(valuesets_document()["notCheckable"])


def required_value_sets() -> frozenset[str]:
    """URLs of all value sets that R4 binds with strength ``required``."""
    document = valuesets_document()
    return frozenset(document["valueSets"]) | frozenset(document["notCheckable"])
