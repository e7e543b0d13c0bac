"""The patient picker of a standalone launch with ``launch/patient``: whom may this user
choose, and is the choice they posted one of those.

* a patient: themselves (their ``self`` link, or the Patient of their ``fhir_user``);
* a guardian: the children linked to them (and themselves, if they are also a patient);
* a pharmacist: the patients linked to them;
* a practitioner or admin: the patients linked to them, plus any Patient found by a name
  search (the search box), since their work is not limited to a fixed list. Which data they
  may then see is the access policy's decision, not the picker's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.identity.users import User, patients_of

if TYPE_CHECKING:
    from platform_core.app import Core

SEARCH_ROLES = frozenset({"practitioner", "admin", "super_admin"})
"""Roles that may pick any existing patient through the search box."""
MAX_RESULTS = 20
_CTX = RequestContext.system("oauth-patient-picker")


@dataclass(frozen=True)
class PatientChoice:
    """One patient the user may pick."""

    id: str
    label: str
    """Name and birth date, for the page."""
    relationship: str
    """``self``, ``guardian``, ``care`` or ``search`` (found with the search box)."""


def can_search(user: User) -> bool:
    """Whether the user gets the search box."""
    return user.role in SEARCH_ROLES


def _linked(core: Core, user: User) -> list[tuple[str, str]]:
    links = list(patients_of(core.db, user.id))
    if user.fhir_user and user.fhir_user.startswith("Patient/"):
        own = user.fhir_user.split("/", 1)[1]
        if all(pid != own for pid, _ in links):
            links.insert(0, (own, "self"))
    return links


def _label(resource: dict[str, Any] | None, patient_id: str) -> str:
    if not resource:
        return f"Patient {patient_id}"
    names = resource.get("name") or []
    name = names[0] if names and isinstance(names[0], dict) else {}
    text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
    label = text or f"Patient {patient_id}"
    if resource.get("birthDate"):
        label += f" (born {resource['birthDate']})"
    return label


def _read(core: Core, patient_id: str) -> dict[str, Any] | None:
    try:
        return core.repository.read(_CTX, "Patient", patient_id).resource()
    except (FhirError, ValueError):
        return None


def choices(core: Core, user: User, query: str | None = None) -> list[PatientChoice]:
    """The patients to offer: the linked ones, then (for search roles) name matches."""
    found = [
        PatientChoice(pid, _label(_read(core, pid), pid), rel) for pid, rel in _linked(core, user)
    ]
    if query and can_search(user):
        seen = {c.id for c in found}
        try:
            request = core.repository.parse_search(
                "Patient", [("name", query.strip()[:100]), ("_count", str(MAX_RESULTS))]
            )
            matches = core.repository.search(_CTX, request).matches
        except FhirError:
            matches = []
        for stored in matches:
            if stored.id not in seen:
                found.append(
                    PatientChoice(stored.id, _label(stored.resource(), stored.id), "search")
                )
    return found


def may_choose(core: Core, user: User, patient_id: str) -> bool:
    """Whether ``patient_id`` is a patient this user may pick (and, for search roles, one
    that exists)."""
    if any(pid == patient_id for pid, _ in _linked(core, user)):
        return True
    return can_search(user) and _read(core, patient_id) is not None
