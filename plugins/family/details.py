"""The person details a family API body carries, checked field by field.

A consumer app sends a plain JSON body (``name``, ``birthDate``, ``gender``, optionally
``phone`` and ``language``); :func:`parse_details` checks every field before anything is
written and raises a 400 :class:`Problem` naming the first field that is wrong, so the app
can point its user at it. :func:`patient_resource` turns checked details into a FHIR R4
Patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from platform_core.fhir.instants import now_utc
from platform_core.web.api import Problem

GENDERS = ("female", "male", "other", "unknown")
"""FHIR AdministrativeGender codes."""
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
"""E.164: a plus, a country code that does not start with 0, at most 15 digits in all."""
_BCP47_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
"""A BCP-47 tag as apps send them: a language, then optional script, region or variant."""
MAX_TEXT = 200
"""Longest name part accepted."""
BCP47_SYSTEM = "urn:ietf:bcp:47"
_EARLIEST_ZONE = timedelta(hours=14)
"""UTC+14 (Kiribati): where a calendar day begins first. A birth date up to this zone's
today is not in the future for someone, somewhere."""


@dataclass(frozen=True)
class PersonDetails:
    """Checked details of one person."""

    family: str
    given: tuple[str, ...]
    birth_date: date
    gender: str
    phone: str | None = None
    language: str | None = None


def bad_field(field: str, message: str) -> Problem:
    """A 400 naming ``field``; ``errors`` maps it to its message like webargs does."""
    return Problem(400, f"{field}: {message}", errors={"json": {field: [message]}})


def _text(value: Any, field: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad_field(field, "give a non-empty text")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise bad_field(field, f"at most {MAX_TEXT} characters")
    return value


def _name(value: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise bad_field("name", 'give an object such as {"given": ["Ada"], "family": "Okafor"}')
    unknown = sorted(set(value) - {"given", "family"})
    if unknown:
        raise bad_field(f"name.{unknown[0]}", "unknown field; use given and family")
    family = _text(value.get("family"), "name.family", required=True)
    assert family is not None
    given_raw = value.get("given", [])
    if isinstance(given_raw, str):
        given_raw = [given_raw]
    if not isinstance(given_raw, list):
        raise bad_field("name.given", "give a list of given names")
    given = tuple(_given(part, i) for i, part in enumerate(given_raw))
    return family, given


def _given(value: Any, index: int) -> str:
    text = _text(value, f"name.given[{index}]", required=True)
    assert text is not None
    return text


def _birth_date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise bad_field("birthDate", "give the date of birth as YYYY-MM-DD")
    try:
        born = date.fromisoformat(value)
    except ValueError:
        raise bad_field("birthDate", f"{value} is not a calendar date") from None
    if born > (now_utc() + _EARLIEST_ZONE).date():
        raise bad_field("birthDate", "the date of birth cannot be in the future")
    return born


def _gender(value: Any) -> str:
    if value not in GENDERS:
        raise bad_field("gender", "use one of " + ", ".join(GENDERS))
    return str(value)


def _phone(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _E164_RE.match(value):
        raise bad_field("phone", "give an E.164 number such as +2348031234567")
    return value


def _language(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _BCP47_RE.match(value):
        raise bad_field("language", "give a BCP-47 language tag such as en or yo-NG")
    return value


def parse_details(body: Any, *, contact: bool) -> PersonDetails:
    """The checked details of ``body``; ``contact`` allows ``phone`` and ``language`` (a
    person's own profile; a child's record carries neither). Raises a 400 :class:`Problem`
    naming the first bad or unknown field."""
    if not isinstance(body, dict):
        raise Problem(400, "The body must be a JSON object")
    allowed = {"name", "birthDate", "gender"} | ({"phone", "language"} if contact else set())
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_field(unknown[0], "unknown field; use " + ", ".join(sorted(allowed)))
    family, given = _name(body.get("name"))
    return PersonDetails(
        family=family,
        given=given,
        birth_date=_birth_date(body.get("birthDate")),
        gender=_gender(body.get("gender")),
        phone=_phone(body.get("phone")),
        language=_language(body.get("language")),
    )


def patient_resource(details: PersonDetails) -> dict[str, Any]:
    """A Patient for ``details`` (only the elements that have a value: FHIR allows no empty
    strings or arrays)."""
    name: dict[str, Any] = {"family": details.family}
    if details.given:
        name["given"] = list(details.given)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "active": True,
        "name": [name],
        "gender": details.gender,
        "birthDate": details.birth_date.isoformat(),
    }
    if details.phone:
        patient["telecom"] = [{"system": "phone", "value": details.phone, "use": "mobile"}]
    if details.language:
        patient["communication"] = [
            {
                "language": {"coding": [{"system": BCP47_SYSTEM, "code": details.language}]},
                "preferred": True,
            }
        ]
    return patient


def display_name(patient: dict[str, Any]) -> str:
    """``Given Family`` of a Patient's first name (its ``text`` when it has one)."""
    names = patient.get("name") or [{}]
    first = names[0] if isinstance(names[0], dict) else {}
    if isinstance(first.get("text"), str):
        return first["text"]
    parts = [*first.get("given", []), first.get("family", "")]
    return " ".join(p for p in parts if isinstance(p, str) and p)
