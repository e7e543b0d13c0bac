"""Error-level invariants of the R4 specification that are cheap to check in Python.

The specification states its invariants in FHIRPath; evaluating FHIRPath on every write is
too slow, so the ones below are hand-written equivalents, keyed by the object they apply to
(a datatype, a backbone element or a resource). ``SUPPORTED_INVARIANTS`` lists everything
the validator enforces, including the structural ones implemented elsewhere (ele-1 in the
walker, dom-* and ref-1 in :mod:`contained`), so the documentation can list them.

Each check receives the object (already walked, so its elements have been type-checked but
may still be malformed), its FHIRPath and the issue list. Checks only compare values whose
JSON type is right and leave malformed values to the walker's messages.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from platform_core.fhir.definitions import invariants as invariant_texts
from platform_core.fhir.error_codes import INVARIANT
from platform_core.fhir.errors import Issue, issue

Check = Callable[[dict[str, Any], str, list[Issue]], None]

UCUM = "http://unitsofmeasure.org"

SUPPORTED_INVARIANTS: tuple[str, ...] = (
    "ele-1",  # walker: no empty objects, arrays, strings; no object with only an id
    "ext-1",
    "per-1",
    "rng-2",
    "rat-1",
    "qty-3",
    "sqty-1",  # walker: SimpleQuantity.comparator has max cardinality 0
    "age-1",
    "cnt-3",
    "dis-1",
    "drt-1",
    "att-1",
    "cpt-2",
    "ref-1",  # contained.py
    "tim-1",
    "tim-2",
    "tim-4",
    "tim-5",
    "tim-6",
    "tim-7",
    "tim-8",
    "tim-9",
    "tim-10",
    "dom-2",  # contained.py
    "dom-3",  # contained.py
    "dom-4",  # contained.py
    "dom-5",  # contained.py
    "bdl-1",
    "bdl-2",
    "bdl-3",
    "bdl-4",
    "bdl-5",
    "bdl-7",
    "bdl-8",
    "bdl-9",
    "bdl-10",
    "bdl-11",
    "bdl-12",
    "inv-1",
    "obs-6",
    "pat-1",
)


def violation(key: str, expression: str, detail: str | None = None) -> Issue:
    """The issue for a broken invariant, quoting the specification's text."""
    human = invariant_texts()[key].human.rstrip(".")
    text = f"{expression}: {human} ({key})"
    if detail:
        text += f": {detail}"
    return issue(INVARIANT, text, expression)


def _has(obj: dict[str, Any], name: str) -> bool:
    """FHIRPath ``exists()`` for an element: present with a value or with extensions."""
    return name in obj or ("_" + name) in obj


def _has_choice(obj: dict[str, Any], base: str) -> bool:
    """True if any ``base[x]`` variant (or its ``_`` sibling) is present."""
    size = len(base)
    for key in obj:
        name = key[1:] if key[:1] == "_" else key
        if name.startswith(base) and len(name) > size and name[size].isupper():
            return True
    return False


def _number(value: Any) -> Decimal | int | None:
    if type(value) is int or type(value) is Decimal:
        return value
    return None


# --- datatypes --------------------------------------------------------------------------


def _ext_1(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    if _has(obj, "extension") == _has_choice(obj, "value"):
        both = "has both" if "extension" in obj else "has neither"
        issues.append(violation("ext-1", expr, f"this extension {both}"))


def _parse_instant(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _date_order(start: str, end: str) -> bool | None:
    """start <= end for two FHIR dates/dateTimes; None when the precisions differ."""
    if "T" in start and "T" in end:
        first, second = _parse_instant(start), _parse_instant(end)
        if first is None or second is None or first.tzinfo is None or second.tzinfo is None:
            return None
        return first <= second
    if "T" in start or "T" in end or len(start) != len(end):
        return None
    return start <= end


def _per_1(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    start, end = obj.get("start"), obj.get("end")
    if type(start) is str and type(end) is str and _date_order(start, end) is False:
        issues.append(violation("per-1", expr, f"start {start} is after end {end}"))


def _same_units(low: dict[str, Any], high: dict[str, Any]) -> bool:
    return all(low.get(k) == high.get(k) for k in ("system", "code")) and (
        "code" in low or low.get("unit") == high.get("unit")
    )


def _rng_2(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    low, high = obj.get("low"), obj.get("high")
    if type(low) is not dict or type(high) is not dict or not _same_units(low, high):
        return
    lo, hi = _number(low.get("value")), _number(high.get("value"))
    if lo is not None and hi is not None and lo > hi:
        issues.append(violation("rng-2", expr, f"low {lo} is above high {hi}"))


def _rat_1(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    numerator, denominator = "numerator" in obj, "denominator" in obj
    if numerator != denominator or not (numerator or "extension" in obj):
        issues.append(violation("rat-1", expr))


def _qty_3(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    if _has(obj, "code") and not _has(obj, "system"):
        issues.append(violation("qty-3", expr))


def _ucum_rules(key: str) -> Check:
    """age-1 / dis-1: a code when there is a value, and a UCUM system if any."""

    def check(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
        _qty_3(obj, expr, issues)
        system = obj.get("system")
        if (_has(obj, "value") and not _has(obj, "code")) or (
            system is not None and system != UCUM
        ):
            issues.append(violation(key, expr))
        elif key == "age-1":
            value = _number(obj.get("value"))
            if value is not None and value <= 0:
                issues.append(violation(key, expr, f"the age {value} is not positive"))

    return check


def _cnt_3(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    _qty_3(obj, expr, issues)
    value, code, system = obj.get("value"), obj.get("code"), obj.get("system")
    whole = _number(value) is None or "." not in str(value)
    if (
        (_has(obj, "value") and not _has(obj, "code"))
        or (system is not None and system != UCUM)
        or (code is not None and code != "1")
        or not whole
    ):
        issues.append(violation("cnt-3", expr))


def _drt_1(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    _qty_3(obj, expr, issues)
    if _has(obj, "code") and (obj.get("system") != UCUM or not _has(obj, "value")):
        issues.append(violation("drt-1", expr))


def _att_1(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    if _has(obj, "data") and not _has(obj, "contentType"):
        issues.append(violation("att-1", expr))


def _cpt_2(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    if _has(obj, "value") and not _has(obj, "system"):
        issues.append(violation("cpt-2", expr))


def _timing_repeat(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    pairs = (
        ("tim-1", "duration", "durationUnit"),
        ("tim-2", "period", "periodUnit"),
        ("tim-6", "periodMax", "period"),
        ("tim-7", "durationMax", "duration"),
        ("tim-8", "countMax", "count"),
    )
    for key, first, needs in pairs:
        if _has(obj, first) and not _has(obj, needs):
            issues.append(violation(key, expr))
    for key, name in (("tim-4", "duration"), ("tim-5", "period")):
        value = _number(obj.get(name))
        if value is not None and value < 0:
            issues.append(violation(key, expr, f"{name} is {value}"))
    when = obj.get("when")
    if _has(obj, "offset"):
        events = when if type(when) is list else []
        if not _has(obj, "when") or any(w in ("C", "CM", "CD", "CV") for w in events):
            issues.append(violation("tim-9", expr))
    if _has(obj, "timeOfDay") and _has(obj, "when"):
        issues.append(violation("tim-10", expr))


# --- resources and their parts ----------------------------------------------------------


def _first_entry_type(obj: dict[str, Any]) -> str | None:
    entries = obj.get("entry")
    if type(entries) is list and entries and type(entries[0]) is dict:
        resource = entries[0].get("resource")
        if type(resource) is dict:
            return resource.get("resourceType")
    return None


def _bundle(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    kind = obj.get("type")
    if _has(obj, "total") and kind not in ("searchset", "history"):
        issues.append(violation("bdl-1", expr, f"this Bundle is of type {kind!r}"))
    entries = obj.get("entry")
    entries = [e for e in entries if type(e) is dict] if type(entries) is list else []
    if any("search" in e for e in entries) and kind != "searchset":
        issues.append(violation("bdl-2", expr, f"this Bundle is of type {kind!r}"))
    needs_request = kind in ("batch", "transaction", "history")
    needs_response = kind in ("batch-response", "transaction-response", "history")
    for index, entry in enumerate(entries):
        if ("request" in entry) != needs_request:
            issues.append(violation("bdl-3", f"{expr}.entry[{index}]", f"type is {kind!r}"))
        if ("response" in entry) != needs_response:
            issues.append(violation("bdl-4", f"{expr}.entry[{index}]", f"type is {kind!r}"))
    if kind != "history":
        seen: set[tuple[Any, Any]] = set()
        for entry in entries:
            url = entry.get("fullUrl")
            if type(url) is not str:
                continue
            resource = entry.get("resource")
            meta = resource.get("meta") if type(resource) is dict else None
            version = meta.get("versionId") if type(meta) is dict else None
            if (url, version) in seen:
                issues.append(violation("bdl-7", expr, f"fullUrl {url} appears twice"))
            seen.add((url, version))
    if kind == "document":
        identifier = obj.get("identifier")
        if type(identifier) is not dict or not ("system" in identifier and "value" in identifier):
            issues.append(violation("bdl-9", expr))
        if "timestamp" not in obj:
            issues.append(violation("bdl-10", expr))
        if _first_entry_type(obj) != "Composition":
            issues.append(violation("bdl-11", expr))
    if kind == "message" and _first_entry_type(obj) != "MessageHeader":
        issues.append(violation("bdl-12", expr))


def _bundle_entry(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    if not ("resource" in obj or "request" in obj or "response" in obj):
        issues.append(violation("bdl-5", expr))
    url = obj.get("fullUrl")
    if type(url) is str and "/_history/" in url:
        issues.append(violation("bdl-8", expr, url))


def _parameter(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    part, value, resource = "part" in obj, _has_choice(obj, "value"), "resource" in obj
    if not ((part and not value and not resource) or (not part and (value != resource))):
        issues.append(violation("inv-1", expr))


def _observation(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    if "dataAbsentReason" in obj and _has_choice(obj, "value"):
        issues.append(violation("obs-6", expr))


def _patient_contact(obj: dict[str, Any], expr: str, issues: list[Issue]) -> None:
    if not any(_has(obj, n) for n in ("name", "telecom", "address", "organization")):
        issues.append(violation("pat-1", expr))


_QUANTITY_FAMILY: dict[str, Check] = {
    "Quantity": _qty_3,
    "SimpleQuantity": _qty_3,
    "MoneyQuantity": _qty_3,
    "Age": _ucum_rules("age-1"),
    "Distance": _ucum_rules("dis-1"),
    "Count": _cnt_3,
    "Duration": _drt_1,
}

_BY_NODE: dict[str, tuple[Check, ...]] = {
    **{name: (check,) for name, check in _QUANTITY_FAMILY.items()},
    "Extension": (_ext_1,),
    "Period": (_per_1,),
    "Range": (_rng_2,),
    "Ratio": (_rat_1,),
    "Attachment": (_att_1,),
    "ContactPoint": (_cpt_2,),
    "Timing.repeat": (_timing_repeat,),
    "Bundle": (_bundle,),
    "Bundle.entry": (_bundle_entry,),
    "Parameters.parameter": (_parameter,),
    "Observation": (_observation,),
    "Patient.contact": (_patient_contact,),
}


def node_invariants(node_key: str) -> tuple[Check, ...]:
    """The invariant checks to run on objects of a node (type or backbone path)."""
    return _BY_NODE.get(node_key, ())
