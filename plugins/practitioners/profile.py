"""A practitioner's profile: the JSON body of ``POST``/``PUT /profile``, checked, and its FHIR
form (a Practitioner and a PractitionerRole), both ways.

:func:`parse_profile` checks a body and returns a :class:`ProfileInput`, or raises a 400
:class:`~platform_core.web.api.Problem` naming every bad field (``errors.json``). Whether the
licence has expired is a rule, not a shape: the caller checks :attr:`Licence.expired` and
answers 422. :func:`practitioner_resource` and :func:`role_resource` build the resources;
:func:`profile_of` and :func:`directory_entry` read them back.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from platform_core.web.api import Problem

SNOMED = "http://snomed.info/sct"
LICENCE_SYSTEM_BASE = "https://fireside.health/fhir/sid/medical-licence/"
"""Practitioner.identifier system of a licence: this plus the country, lower case."""
CREDENTIAL_TYPES = "https://fireside.health/fhir/CodeSystem/credential-type"
"""Kinds of credential (``licence``, ``degree``, ``identity``, ``other``): the licence's
qualification code and the DocumentReference type."""
QUALIFICATIONS = "https://fireside.health/fhir/CodeSystem/qualification"
"""Degrees and diplomas, coded as the practitioner wrote them (``MBBS``)."""
BIO_URL = "https://fireside.health/fhir/StructureDefinition/practitioner-bio"
"""The extension holding the practitioner's own short biography."""
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/practitioner-role"

MAX_SPECIALTIES = 10
MAX_QUALIFICATIONS = 20
MAX_BIO = 2000
MAX_TEXT = 200
GENDERS = ("male", "female", "other", "unknown")

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+$")
_SCTID = re.compile(r"^[1-9]\d{5,17}$")
_CODE = re.compile(r"^[^\s]+( [^\s]+)*$")
_LICENCE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/.\- ]{0,63}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Coded:
    """A specialty: SNOMED CT code and its display."""

    code: str
    display: str


@dataclass(frozen=True)
class Qualification:
    """A degree or diploma."""

    code: str
    display: str
    issuer: str
    year: int


@dataclass(frozen=True)
class Licence:
    """The licence to practise."""

    number: str
    issuer: str
    country: str
    """ISO 3166-1 alpha-2, upper case."""
    expires: date

    @property
    def key(self) -> str:
        """The number as compared for uniqueness: upper case, no spaces."""
        return "".join(self.number.split()).upper()

    @property
    def system(self) -> str:
        """The Practitioner.identifier system for this country."""
        return LICENCE_SYSTEM_BASE + self.country.lower()

    def expired(self, today: date | None = None) -> bool:
        """Whether the licence ended before today (UTC): it is valid through ``expires``."""
        return self.expires < (today or datetime.now(UTC).date())


@dataclass(frozen=True)
class ProfileInput:
    """A checked profile body."""

    prefix: tuple[str, ...]
    given: tuple[str, ...]
    family: str
    gender: str | None
    phone: str | None
    email: str | None
    specialties: tuple[Coded, ...]
    qualifications: tuple[Qualification, ...]
    licence: Licence
    bio: str | None

    @property
    def display_name(self) -> str:
        """``Dr Amina Bello``."""
        return " ".join((*self.prefix, *self.given, self.family))

    @property
    def search_name(self) -> str:
        """Every part of the name, folded, for the directory's ``q``."""
        return fold(self.display_name)

    @property
    def sort_name(self) -> str:
        """Family name first, folded: the directory's order."""
        return fold(" ".join((self.family, *self.given)))


def fold(text: str) -> str:
    """Lower case without accents: ``Adébáyọ̀`` -> ``adebayo``."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


# --- parsing ---------------------------------------------------------------------------


class _Errors:
    """Collects what is wrong with a body, field by field."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_field.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if not self.by_field:
            return
        first = "; ".join(f"{path}: {msgs[0]}" for path, msgs in list(self.by_field.items())[:5])
        raise Problem(
            400,
            f"The profile is not valid: {first}",
            title="Bad Request",
            errors={"json": self.by_field},
        )

    def text(
        self, body: dict[str, Any], key: str, path: str, *, required: bool, limit: int = MAX_TEXT
    ) -> str | None:
        """A trimmed, non-empty string of at most ``limit`` characters."""
        value = body.get(key)
        if value is None:
            if required:
                self.add(path, "is required")
            return None
        if not isinstance(value, str):
            self.add(path, "must be a string")
            return None
        value = value.strip()
        if not value:
            self.add(path, "must not be empty")
            return None
        if len(value) > limit:
            self.add(path, f"is {len(value)} characters long; at most {limit} are allowed")
            return None
        if any(unicodedata.category(c) == "Cc" and c not in "\r\n\t" for c in value):
            self.add(path, "must not contain control characters")
            return None
        return value

    def strings(self, body: dict[str, Any], key: str, path: str, *, required: bool) -> list[str]:
        """A list of names (each trimmed, non-empty)."""
        value = body.get(key)
        if value is None:
            if required:
                self.add(path, "is required: a list of at least one name")
            return []
        if not isinstance(value, list) or (required and not value) or len(value) > 5:
            self.add(path, "must be a list of 1 to 5 names")
            return []
        out = []
        for i, item in enumerate(value):
            text = self.text({"v": item}, "v", f"{path}[{i}]", required=True, limit=100)
            if text is not None:
                out.append(text)
        return out

    def objects(self, body: dict[str, Any], key: str, lo: int, hi: int) -> list[dict[str, Any]]:
        """A list of ``lo`` to ``hi`` JSON objects."""
        value = body.get(key)
        if value is None:
            if lo > 0:
                self.add(key, f"is required: a list of {lo} to {hi} entries")
            return []
        if not isinstance(value, list) or not lo <= len(value) <= hi:
            self.add(key, f"must be a list of {lo} to {hi} entries")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                out.append(item)
            else:
                self.add(f"{key}[{i}]", "must be an object")
        return out


_KNOWN = frozenset(
    {
        "name",
        "gender",
        "phone",
        "email",
        "specialties",
        "qualifications",
        "licence",
        "bio",
    }
)


def parse_profile(body: Any) -> ProfileInput:
    """The checked profile; a 400 Problem naming every bad field otherwise."""
    errors = _Errors()
    if not isinstance(body, dict):
        raise Problem(400, "The body must be a JSON object (Content-Type: application/json)")
    for key in sorted(set(body) - _KNOWN):
        errors.add(key, f"is not a profile field (known: {', '.join(sorted(_KNOWN))})")

    name = body.get("name")
    prefix: list[str] = []
    given: list[str] = []
    family = None
    if not isinstance(name, dict):
        errors.add("name", "is required: {'prefix': [...], 'given': [...], 'family': '...'}")
    else:
        prefix = errors.strings(name, "prefix", "name.prefix", required=False)
        given = errors.strings(name, "given", "name.given", required=True)
        family = errors.text(name, "family", "name.family", required=True, limit=100)
        for key in sorted(set(name) - {"prefix", "given", "family"}):
            errors.add(f"name.{key}", "is not a name field (prefix, given, family)")

    gender = errors.text(body, "gender", "gender", required=False)
    if gender is not None and gender not in GENDERS:
        errors.add("gender", f"must be one of {', '.join(GENDERS)}")
    phone = errors.text(body, "phone", "phone", required=False)
    if phone is not None and not _E164.match(phone):
        errors.add("phone", "must be an E.164 number such as +2348012345678")
    email = errors.text(body, "email", "email", required=False, limit=320)
    if email is not None and not _EMAIL.match(email):
        errors.add("email", "must be an email address such as name@example.org")

    specialties = _specialties(errors, body)
    qualifications = _qualifications(errors, body)
    licence = _licence(errors, body)
    bio = errors.text(body, "bio", "bio", required=False, limit=MAX_BIO)

    errors.raise_if_any()
    assert family is not None and licence is not None
    return ProfileInput(
        prefix=tuple(prefix),
        given=tuple(given),
        family=family,
        gender=gender,
        phone=phone,
        email=email.lower() if email else None,
        specialties=tuple(specialties),
        qualifications=tuple(qualifications),
        licence=licence,
        bio=bio,
    )


def _specialties(errors: _Errors, body: dict[str, Any]) -> list[Coded]:
    out: list[Coded] = []
    seen: set[str] = set()
    for i, item in enumerate(errors.objects(body, "specialties", 1, MAX_SPECIALTIES)):
        path = f"specialties[{i}]"
        code = errors.text(item, "code", f"{path}.code", required=True, limit=18)
        display = errors.text(item, "display", f"{path}.display", required=True)
        for key in sorted(set(item) - {"code", "display", "system"}):
            errors.add(f"{path}.{key}", "is not a specialty field (code, display)")
        system = item.get("system", SNOMED)
        if system != SNOMED:
            errors.add(f"{path}.system", f"must be {SNOMED} (SNOMED CT) when given")
        if code is None or display is None:
            continue
        if not _SCTID.match(code):
            errors.add(f"{path}.code", "must be a SNOMED CT concept id (6 to 18 digits)")
        elif code in seen:
            errors.add(f"{path}.code", f"{code} is listed twice")
        else:
            seen.add(code)
            out.append(Coded(code, display))
    return out


def _qualifications(errors: _Errors, body: dict[str, Any]) -> list[Qualification]:
    out: list[Qualification] = []
    this_year = datetime.now(UTC).year
    for i, item in enumerate(errors.objects(body, "qualifications", 0, MAX_QUALIFICATIONS)):
        path = f"qualifications[{i}]"
        code = errors.text(item, "code", f"{path}.code", required=True, limit=32)
        if code is not None and not _CODE.match(code):
            errors.add(f"{path}.code", "must not contain tabs, line breaks or double spaces")
            code = None
        display = errors.text(item, "display", f"{path}.display", required=True)
        issuer = errors.text(item, "issuer", f"{path}.issuer", required=True)
        year = item.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= this_year:
            errors.add(f"{path}.year", f"must be a year from 1900 to {this_year}")
            year = None
        for key in sorted(set(item) - {"code", "display", "issuer", "year"}):
            errors.add(
                f"{path}.{key}", "is not a qualification field (code, display, issuer, year)"
            )
        if code and display and issuer and year is not None:
            out.append(Qualification(code, display, issuer, year))
    return out


def _licence(errors: _Errors, body: dict[str, Any]) -> Licence | None:
    item = body.get("licence")
    if not isinstance(item, dict):
        errors.add("licence", "is required: {'number', 'issuer', 'country', 'expires'}")
        return None
    number = errors.text(item, "number", "licence.number", required=True, limit=64)
    if number is not None and not _LICENCE_NUMBER.match(number):
        errors.add("licence.number", "may hold letters, digits, '/', '.', '-' and spaces only")
        number = None
    issuer = errors.text(item, "issuer", "licence.issuer", required=True)
    country = errors.text(item, "country", "licence.country", required=True, limit=2)
    if country is not None and not _COUNTRY.match(country):
        errors.add("licence.country", "must be an ISO 3166-1 alpha-2 code such as NG")
        country = None
    raw = item.get("expires")
    expires = None
    if not isinstance(raw, str) or not _DAY.match(raw):
        errors.add("licence.expires", "is required: a date YYYY-MM-DD")
    else:
        try:
            expires = date.fromisoformat(raw)
        except ValueError:
            errors.add("licence.expires", f"{raw} is not a calendar date")
    for key in sorted(set(item) - {"number", "issuer", "country", "expires"}):
        errors.add(f"licence.{key}", "is not a licence field (number, issuer, country, expires)")
    if number and issuer and country and expires:
        return Licence(number, issuer, country.upper(), expires)
    return None


# --- to FHIR ---------------------------------------------------------------------------


def _licence_display() -> dict[str, Any]:
    return {"system": CREDENTIAL_TYPES, "code": "licence", "display": "Licence to practise"}


def practitioner_resource(profile: ProfileInput, *, active: bool) -> dict[str, Any]:
    """The Practitioner for ``profile``; ``active`` is false until an admin verifies."""
    licence = profile.licence
    name: dict[str, Any] = {"use": "official", "text": profile.display_name}
    name["family"] = profile.family
    name["given"] = list(profile.given)
    if profile.prefix:
        name["prefix"] = list(profile.prefix)
    resource: dict[str, Any] = {"resourceType": "Practitioner"}
    if profile.bio:
        resource["extension"] = [{"url": BIO_URL, "valueString": profile.bio}]
    resource["identifier"] = [
        {
            "use": "official",
            "type": {
                "coding": [
                    {
                        "system": V2_IDENTIFIER_TYPE,
                        "code": "MD",
                        "display": "Medical License number",
                    }
                ]
            },
            "system": licence.system,
            "value": licence.number,
            "period": {"end": licence.expires.isoformat()},
            "assigner": {"display": licence.issuer},
        }
    ]
    resource["active"] = active
    resource["name"] = [name]
    telecom = []
    if profile.phone:
        telecom.append({"system": "phone", "value": profile.phone, "use": "work"})
    if profile.email:
        telecom.append({"system": "email", "value": profile.email, "use": "work"})
    if telecom:
        resource["telecom"] = telecom
    if profile.gender:
        resource["gender"] = profile.gender
    qualifications = [
        {
            "code": {
                "coding": [{"system": QUALIFICATIONS, "code": q.code, "display": q.display}],
                "text": q.display,
            },
            "period": {"start": str(q.year)},
            "issuer": {"display": q.issuer},
        }
        for q in profile.qualifications
    ]
    qualifications.append(
        {
            "identifier": [{"system": licence.system, "value": licence.number}],
            "code": {"coding": [_licence_display()], "text": "Licence to practise"},
            "period": {"end": licence.expires.isoformat()},
            "issuer": {"display": licence.issuer},
        }
    )
    resource["qualification"] = qualifications
    return resource


def role_resource(profile: ProfileInput, practitioner_id: str, *, active: bool) -> dict[str, Any]:
    """The PractitionerRole naming the specialties."""
    return {
        "resourceType": "PractitionerRole",
        "active": active,
        "practitioner": {
            "reference": f"Practitioner/{practitioner_id}",
            "display": profile.display_name,
        },
        "code": [{"coding": [{"system": ROLE_CODES, "code": "doctor", "display": "Doctor"}]}],
        "specialty": [
            {
                "coding": [{"system": SNOMED, "code": s.code, "display": s.display}],
                "text": s.display,
            }
            for s in profile.specialties
        ],
    }


# --- from FHIR -------------------------------------------------------------------------


def _first_coding(concept: dict[str, Any], system: str) -> dict[str, Any] | None:
    for coding in concept.get("coding", []):
        if coding.get("system") == system:
            return coding
    return None


def specialties_of(role: dict[str, Any]) -> list[dict[str, str]]:
    """``[{"code", "display"}]`` of the role's SNOMED CT specialties."""
    out = []
    for concept in role.get("specialty", []):
        coding = _first_coding(concept, SNOMED)
        if coding is not None and "code" in coding:
            out.append(
                {"code": coding["code"], "display": coding.get("display") or concept.get("text")}
            )
    return out


def qualifications_of(practitioner: dict[str, Any]) -> list[dict[str, Any]]:
    """The degrees (not the licence) as ``[{"code", "display", "issuer", "year"}]``."""
    out = []
    for qualification in practitioner.get("qualification", []):
        coding = _first_coding(qualification.get("code", {}), QUALIFICATIONS)
        if coding is None:
            continue
        start = qualification.get("period", {}).get("start", "")
        out.append(
            {
                "code": coding.get("code"),
                "display": coding.get("display") or qualification["code"].get("text"),
                "issuer": qualification.get("issuer", {}).get("display"),
                "year": int(start[:4]) if start[:4].isdigit() else None,
            }
        )
    return out


def licence_of(practitioner: dict[str, Any]) -> dict[str, Any] | None:
    """``{"number", "issuer", "country", "expires"}`` from the licence identifier."""
    for identifier in practitioner.get("identifier", []):
        system = identifier.get("system", "")
        if system.startswith(LICENCE_SYSTEM_BASE):
            return {
                "number": identifier.get("value"),
                "issuer": identifier.get("assigner", {}).get("display"),
                "country": system[len(LICENCE_SYSTEM_BASE) :].upper(),
                "expires": identifier.get("period", {}).get("end"),
            }
    return None


def bio_of(practitioner: dict[str, Any]) -> str | None:
    """The biography extension's text."""
    for extension in practitioner.get("extension", []):
        if extension.get("url") == BIO_URL:
            return extension.get("valueString")
    return None


def name_text(practitioner: dict[str, Any]) -> str:
    """``Dr Amina Bello``: the official name's text, else its parts."""
    names = practitioner.get("name") or [{}]
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if name.get("text"):
        return str(name["text"])
    parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
    return " ".join(p for p in parts if p)


def _telecom(practitioner: dict[str, Any], system: str) -> str | None:
    for point in practitioner.get("telecom", []):
        if point.get("system") == system:
            return point.get("value")
    return None


def profile_of(practitioner: dict[str, Any], role: dict[str, Any]) -> dict[str, Any]:
    """The profile as the practitioner sent it (the shape of the ``POST /profile`` body)."""
    names = practitioner.get("name") or [{}]
    name = next((n for n in names if n.get("use") == "official"), names[0])
    return {
        "name": {
            "prefix": name.get("prefix", []),
            "given": name.get("given", []),
            "family": name.get("family"),
        },
        "gender": practitioner.get("gender"),
        "phone": _telecom(practitioner, "phone"),
        "email": _telecom(practitioner, "email"),
        "specialties": specialties_of(role),
        "qualifications": qualifications_of(practitioner),
        "licence": licence_of(practitioner),
        "bio": bio_of(practitioner),
    }


def directory_entry(
    practitioner_id: str, practitioner: dict[str, Any], role: dict[str, Any]
) -> dict[str, Any]:
    """One directory entry (``rating`` is filled in by the caller)."""
    return {
        "practitioner": practitioner_id,
        "name": name_text(practitioner),
        "specialties": specialties_of(role),
        "qualifications": qualifications_of(practitioner),
        "bio": bio_of(practitioner),
        "rating": None,
    }
