"""The one exception type of the identity module.

Every refusal (a weak password, a duplicate email, an unknown role...) is an
:class:`IdentityError` with a machine-readable ``code`` (a word such as ``weak_password``,
which names the problem type) and a message fit to show the person who caused it. Each code
has a stable ``FS-08xx`` number in :mod:`platform_core.fhir.error_codes`. Pages show the
message; the admin API turns it into an RFC 9457 problem document whose ``type`` ends with
the word and whose ``code`` member is the ``FS-`` number. ``docs/error_codes.md`` lists them.
"""

from __future__ import annotations

from platform_core.fhir import error_codes
from platform_core.fhir.error_codes import ErrorCode

CODES: dict[str, ErrorCode] = {
    "unknown_role": error_codes.UNKNOWN_ROLE,
    "weak_password": error_codes.WEAK_PASSWORD,
    "invalid_email": error_codes.INVALID_EMAIL,
    "duplicate_email": error_codes.DUPLICATE_EMAIL,
    "invalid_fhir_user": error_codes.INVALID_FHIR_USER,
    "invalid_status": error_codes.INVALID_STATUS,
    "unknown_user": error_codes.UNKNOWN_USER,
    "invalid_relationship": error_codes.INVALID_RELATIONSHIP,
    "invalid_patient_id": error_codes.INVALID_PATIENT_ID,
    "invalid_link": error_codes.INVALID_LINK,
    "invalid_totp": error_codes.INVALID_TOTP,
    "not_allowed": error_codes.NOT_ALLOWED,
}
"""Every code an :class:`IdentityError` can carry, with its stable ``FS-08xx`` code."""


class IdentityError(Exception):
    """A refused identity operation: ``code`` is one of :data:`CODES`, ``message`` says why
    in words a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:  # pragma: no cover - programming error
            raise ValueError(f"unknown identity error code {code}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def fs_code(self) -> str:
        """The stable ``FS-08xx`` code of :attr:`code`."""
        return CODES[self.code].code
