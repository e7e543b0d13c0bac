"""How an author is shown under a public review: a first name and the family name's
initial ("Ada O."), read from the author's own Patient resource; "A patient" when there is
none to read. Nothing else about the author (account, email, patient id) is ever shown.

A guardian reviewing a child's appointment is shown by their own name, not the child's.
"""

from __future__ import annotations

from typing import Any

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.identity.users import get_user

ANONYMOUS = "A patient"


class AuthorNames:
    """Display names of authors, each looked up once per instance (one per request)."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self._names: dict[str, str] = {}

    def __call__(self, author_user_id: str) -> str:
        if author_user_id not in self._names:
            self._names[author_user_id] = self._lookup(author_user_id)
        return self._names[author_user_id]

    def _lookup(self, author_user_id: str) -> str:
        user = get_user(self.core.db, author_user_id)
        if user is None or not (user.fhir_user or "").startswith("Patient/"):
            return ANONYMOUS
        patient_id = user.fhir_user.split("/", 1)[1]  # type: ignore[union-attr]
        try:
            patient = self.core.repository.read(
                RequestContext.system(), "Patient", patient_id
            ).resource()
        except FhirError:
            return ANONYMOUS
        return display_name(patient)


def display_name(patient: dict[str, Any]) -> str:
    """The display name of a Patient: ``Ada O.`` from its official (else usual, else
    first) name; ``Ada`` without a family name; :data:`ANONYMOUS` without a given name."""
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    if not names:
        return ANONYMOUS
    name = next(
        (n for use in ("official", "usual") for n in names if n.get("use") == use), names[0]
    )
    given = next((g.strip() for g in name.get("given") or [] if g and g.strip()), "")
    if not given:
        return ANONYMOUS
    family = (name.get("family") or "").strip()
    return f"{given} {family[0].upper()}." if family else given
