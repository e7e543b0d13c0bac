"""The prescription body the API accepts, checked field by field.

``parse_order`` turns the JSON body of ``POST /api/prescriptions`` (or of a replacement)
into a :class:`PrescriptionOrder`, or raises :class:`BadOrder` listing every field that is
wrong and how. The body is parsed with :func:`platform_core.fhir.jsonio.parse_json`, so a
number written with a fraction arrives as a :class:`~decimal.Decimal` and is stored with the
precision the caller wrote (``2.50`` stays ``2.50``): FHIR decimals are never floats here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UNITS_OF_TIME = ("s", "min", "h", "d", "wk", "mo", "a")
"""FHIR ``UnitsOfTime`` (``Timing.repeat.periodUnit``)."""
MAX_INTEGER = 2**31 - 1
"""FHIR ``integer`` and ``positiveInt`` are 32-bit."""
MAX_TEXT = 2_000
"""Longest free text (dosage text, note, display) accepted."""

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CODE = re.compile(r"^[^\s]+( [^\s]+)*$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIELDS = frozenset({"patient", "medication", "dosage", "quantity", "refills", "validity", "note"})
_DOSAGE_FIELDS = frozenset({"text", "frequency", "period", "period_unit", "route", "dose"})

Number = int | Decimal


@dataclass(frozen=True)
class Coded:
    """A code from a code system, with the words a person reads."""

    system: str | None
    code: str | None
    display: str | None
    text: str | None = None


@dataclass(frozen=True)
class Amount:
    """A positive amount of something: ``5 mL``, ``100 mL``, ``20 tablet``."""

    value: Number
    unit: str


@dataclass(frozen=True)
class Dosage:
    """How to take it: the text a patient reads plus the structured timing."""

    text: str
    frequency: int
    period: Number
    period_unit: str
    route: Coded | None
    dose: Amount | None


@dataclass(frozen=True)
class PrescriptionOrder:
    """A checked prescription body."""

    patient: str | None
    """The Patient id; None when a replacement leaves it out (it keeps the old patient)."""
    medication: Coded
    dosage: Dosage
    quantity: Amount
    refills: int
    validity_start: date
    validity_end: date
    note: str | None


class BadOrder(Exception):
    """The body is wrong: ``errors`` maps each wrong field (dotted path) to what is wrong."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class _Checker:
    """Collects every error of one body, so the caller can fix them all at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def obj(self, value: Any, field: str, *, required: bool = True) -> dict[str, Any] | None:
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, dict):
            self.fail(field, "must be a JSON object")
            return None
        return value

    def text(self, value: Any, field: str, *, required: bool = True) -> str | None:
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(field, "must be a non-empty string")
            return None
        if len(value) > MAX_TEXT:
            self.fail(field, f"must be at most {MAX_TEXT} characters")
            return None
        return value.strip()

    def code(self, value: Any, field: str) -> str | None:
        if value is None:
            self.fail(field, "is required")
            return None
        if not isinstance(value, str) or not _CODE.match(value) or len(value) > 256:
            self.fail(field, "must be a code: no leading, trailing or double spaces")
            return None
        return value

    def uri(self, value: Any, field: str) -> str | None:
        if value is None:
            self.fail(field, "is required")
            return None
        if not isinstance(value, str) or not _URI.match(value) or len(value) > 1024:
            self.fail(field, "must be an absolute URI such as " + RXNORM)
            return None
        return value

    def integer(self, value: Any, field: str, *, low: int, high: int) -> int | None:
        if value is None:
            self.fail(field, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, "must be a whole number")
            return None
        if not low <= value <= high:
            self.fail(field, f"must be between {low} and {high}")
            return None
        return value

    def positive(self, value: Any, field: str) -> Number | None:
        if value is None:
            self.fail(field, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            self.fail(field, "must be a number")
            return None
        if isinstance(value, Decimal) and not value.is_finite():
            self.fail(field, "must be a finite number")
            return None
        if value <= 0:
            self.fail(field, "must be greater than 0")
            return None
        if value >= 10**9:
            self.fail(field, "must be less than 1000000000")
            return None
        return value

    def day(self, value: Any, field: str) -> date | None:
        if value is None:
            self.fail(field, "is required")
            return None
        if not isinstance(value, str) or not _DATE.match(value):
            self.fail(field, "must be a date written YYYY-MM-DD")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(field, "is not a calendar date")
            return None

    def unknown(self, value: dict[str, Any], known: frozenset[str], prefix: str) -> None:
        for key in sorted(set(value) - known):
            self.fail(prefix + key, "is not a known field")


def parse_order(
    body: Any, *, max_refills: int = 12, patient_required: bool = True
) -> PrescriptionOrder:
    """Check a prescription body; :class:`BadOrder` naming every wrong field."""
    check = _Checker()
    if not isinstance(body, dict):
        raise BadOrder({"body": ["must be a JSON object"]})
    check.unknown(body, _FIELDS, "")
    patient = _patient(check, body.get("patient"), required=patient_required)
    medication = _medication(check, body.get("medication"))
    dosage = _dosage(check, body.get("dosage"))
    quantity = _amount(check, body.get("quantity"), "quantity", required=True)
    refills = check.integer(body.get("refills"), "refills", low=0, high=max_refills)
    start, end = _validity(check, body.get("validity"))
    note = check.text(body.get("note"), "note", required=False)
    if check.errors:
        raise BadOrder(check.errors)
    assert medication and dosage and quantity and refills is not None and start and end
    return PrescriptionOrder(patient, medication, dosage, quantity, refills, start, end, note)


def _patient(check: _Checker, value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            check.fail("patient", "is required (the Patient id)")
        return None
    if not isinstance(value, str) or not _ID.match(value):
        check.fail("patient", "must be a Patient id (1-64 letters, digits, '-' or '.')")
        return None
    return value


def _medication(check: _Checker, value: Any) -> Coded | None:
    raw = check.obj(value, "medication")
    if raw is None:
        return None
    check.unknown(raw, frozenset({"system", "code", "display"}), "medication.")
    system = check.uri(raw.get("system"), "medication.system")
    code = check.code(raw.get("code"), "medication.code")
    display = check.text(raw.get("display"), "medication.display")
    if system == RXNORM and code is not None and not code.isdigit():
        check.fail("medication.code", "an RxNorm code (RXCUI) is digits only")
        code = None
    if system is None or code is None or display is None:
        return None
    return Coded(system, code, display)


def _route(check: _Checker, value: Any) -> Coded | None:
    raw = check.obj(value, "dosage.route", required=False)
    if raw is None:
        return None
    check.unknown(raw, frozenset({"system", "code", "display", "text"}), "dosage.route.")
    coded = raw.get("system") is not None or raw.get("code") is not None
    system = check.uri(raw.get("system"), "dosage.route.system") if coded else None
    code = check.code(raw.get("code"), "dosage.route.code") if coded else None
    display = check.text(raw.get("display"), "dosage.route.display", required=False)
    text = check.text(raw.get("text"), "dosage.route.text", required=False)
    if not coded and text is None:
        check.fail("dosage.route", "needs a system and code, or a text")
        return None
    if coded and (system is None or code is None):
        return None
    return Coded(system, code, display, text)


def _dosage(check: _Checker, value: Any) -> Dosage | None:
    raw = check.obj(value, "dosage")
    if raw is None:
        return None
    check.unknown(raw, _DOSAGE_FIELDS, "dosage.")
    text = check.text(raw.get("text"), "dosage.text")
    frequency = check.integer(raw.get("frequency"), "dosage.frequency", low=1, high=MAX_INTEGER)
    period = check.positive(raw.get("period"), "dosage.period")
    unit = raw.get("period_unit")
    if unit not in UNITS_OF_TIME:
        check.fail("dosage.period_unit", "must be one of " + ", ".join(UNITS_OF_TIME))
        unit = None
    route = _route(check, raw.get("route"))
    dose = _amount(check, raw.get("dose"), "dosage.dose", required=False)
    if text is None or frequency is None or period is None or unit is None:
        return None
    return Dosage(text, frequency, period, unit, route, dose)


def _amount(check: _Checker, value: Any, field: str, *, required: bool) -> Amount | None:
    raw = check.obj(value, field, required=required)
    if raw is None:
        return None
    check.unknown(raw, frozenset({"value", "unit"}), field + ".")
    number = check.positive(raw.get("value"), field + ".value")
    unit = check.text(raw.get("unit"), field + ".unit")
    if number is None or unit is None:
        return None
    return Amount(number, unit)


def _validity(check: _Checker, value: Any) -> tuple[date | None, date | None]:
    raw = check.obj(value, "validity")
    if raw is None:
        return None, None
    check.unknown(raw, frozenset({"start", "end"}), "validity.")
    start = check.day(raw.get("start"), "validity.start")
    end = check.day(raw.get("end"), "validity.end")
    if start is not None and end is not None and end < start:
        check.fail("validity.end", "must not be before validity.start")
        return None, None
    return start, end
