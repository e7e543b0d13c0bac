"""The one exception type of the identity module.

Every refusal (a weak password, a duplicate email, an unknown role...) is an
:class:`IdentityError` with a stable machine-readable ``code`` and a message fit to show the
person who caused it. Pages show the message; the admin API turns it into an RFC 9457
problem document whose ``code`` member is the same string. ``docs/identity.md`` lists them.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    "unknown_role": "The role is not one of the known roles.",
    "weak_password": "The password is too short or too common.",
    "invalid_email": "The email address is not valid.",
    "duplicate_email": "An account with this email address already exists.",
    "invalid_fhir_user": "fhir_user must look like Patient/12.",
    "invalid_status": "The account status is not one of pending, active, suspended.",
    "unknown_user": "No such user.",
    "invalid_relationship": "The relationship is not one of self, guardian, care.",
    "invalid_patient_id": "The patient id is not a valid FHIR id.",
    "invalid_token": "The link is not valid, was already used, or has expired.",
    "invalid_totp": "The one-time code is not correct.",
    "not_allowed": "This action is not allowed on this account.",
}
"""Every code an :class:`IdentityError` can carry, with its general meaning."""


class IdentityError(Exception):
    """A refused identity operation: ``code`` is one of :data:`CODES`, ``message`` says why
    in words a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:  # pragma: no cover - programming error
            raise ValueError(f"unknown identity error code {code}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
