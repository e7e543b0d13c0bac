"""The catalogue of stable Fireside error codes (``FS-nnnn``).

Codes never change meaning once published; ``docs/error_codes.md`` lists them all and a test
checks that the two agree. Ranges: 0xxx request and transport (06xx authorization, 08xx
accounts: the identity pages and admin API, answered as problem+json), 1xxx
validation, 2xxx resource state and versioning, 3xxx search, 4xxx bundles, 5xxx patch and
operations, 9xxx server faults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """A stable error code with its FHIR issue type and a short title."""

    code: str
    issue_type: str
    title: str


_ALL: dict[str, ErrorCode] = {}


def _define(code: str, issue_type: str, title: str) -> ErrorCode:
    if code in _ALL:  # pragma: no cover - programming error caught at import
        raise ValueError(f"duplicate error code {code}")
    err = ErrorCode(code, issue_type, title)
    _ALL[code] = err
    return err


def all_codes() -> list[ErrorCode]:
    """Every defined code, in code order."""
    return sorted(_ALL.values(), key=lambda e: e.code)


# --- 0xxx: request and transport -------------------------------------------------------
MALFORMED_JSON = _define("FS-0001", "structure", "The body is not well-formed JSON")
UNSUPPORTED_MEDIA_TYPE = _define("FS-0002", "not-supported", "Unsupported content type")
BODY_TOO_LARGE = _define("FS-0003", "too-costly", "The request body is over the size limit")
UNKNOWN_RESOURCE_TYPE = _define("FS-0004", "not-supported", "Unknown resource type")
INVALID_ID = _define("FS-0005", "value", "Invalid resource id")
UNKNOWN_ROUTE = _define("FS-0006", "not-supported", "No such FHIR interaction")
METHOD_NOT_ALLOWED = _define("FS-0007", "not-supported", "Method not allowed here")
NOT_ACCEPTABLE = _define("FS-0008", "not-supported", "Unsupported response format")
BODY_REQUIRED = _define("FS-0009", "required", "A request body is required")
INVALID_PARAMETER = _define("FS-0010", "invalid", "Invalid request parameter")
INVALID_HEADER = _define("FS-0011", "invalid", "Invalid request header")

# --- 06xx: authorization ----------------------------------------------------------------
UNAUTHENTICATED = _define("FS-0601", "login", "No valid access token")
FORBIDDEN = _define("FS-0602", "forbidden", "The token's scopes do not allow this")
OUT_OF_REACH = _define("FS-0603", "forbidden", "The resource is outside the token's reach")

# --- 08xx: accounts (IdentityError codes; the admin API's problem documents) ------------
UNKNOWN_ROLE = _define("FS-0801", "value", "The role is not one of the known roles")
WEAK_PASSWORD = _define("FS-0802", "value", "The password is too short, too long or too common")
INVALID_EMAIL = _define("FS-0803", "value", "The email address is not valid")
DUPLICATE_EMAIL = _define("FS-0804", "duplicate", "An account with this email address exists")
INVALID_FHIR_USER = _define("FS-0805", "value", "fhir_user is not a reference such as Patient/12")
INVALID_STATUS = _define("FS-0806", "value", "The account status is not a known one")
UNKNOWN_USER = _define("FS-0807", "not-found", "No such user")
INVALID_RELATIONSHIP = _define("FS-0808", "value", "The relationship is not a known one")
INVALID_PATIENT_ID = _define("FS-0809", "value", "The patient id is not a valid FHIR id")
INVALID_LINK = _define("FS-0810", "expired", "The mailed link is unknown, used or expired")
INVALID_TOTP = _define("FS-0811", "security", "The one-time code is not correct")
NOT_ALLOWED = _define("FS-0812", "business-rule", "The action does not apply to this account")
BAD_REQUEST = _define("FS-0813", "invalid", "The request body or a parameter is malformed")
NO_SUCH_URL = _define("FS-0814", "not-found", "No such API URL")
METHOD_NOT_ALLOWED = _define("FS-0815", "not-supported", "The method is not allowed here")

# --- 1xxx: validation -------------------------------------------------------------------
INVALID_RESOURCE = _define("FS-1000", "invalid", "The resource is not valid")
WRONG_JSON_TYPE = _define("FS-1001", "structure", "Wrong JSON type for the element")
UNKNOWN_ELEMENT = _define("FS-1002", "structure", "Unknown element")
EMPTY_VALUE = _define("FS-1003", "structure", "Empty values are not allowed")
NULL_VALUE = _define("FS-1004", "structure", "null is not allowed here")
CARDINALITY_MIN = _define("FS-1005", "required", "A required element is missing")
CARDINALITY_MAX = _define("FS-1006", "structure", "Too many values for the element")
INVALID_PRIMITIVE = _define("FS-1007", "value", "Invalid primitive value")
MULTIPLE_CHOICE = _define("FS-1008", "structure", "More than one value[x] choice")
REQUIRED_BINDING = _define("FS-1009", "code-invalid", "Code not in the required value set")
CONTAINED_RULE = _define("FS-1010", "invariant", "Contained resource rule broken")
INVARIANT = _define("FS-1011", "invariant", "A constraint of the specification is broken")
RESOURCE_TYPE_MISMATCH = _define("FS-1012", "invalid", "resourceType does not match the URL")
ID_MISMATCH = _define("FS-1013", "invalid", "Body id does not match the URL id")
ID_NOT_ALLOWED = _define("FS-1014", "invalid", "Create must not carry an id")
ID_REQUIRED = _define("FS-1015", "required", "Update needs an id in the body")
MISSING_RESOURCE_TYPE = _define("FS-1016", "required", "resourceType is missing")
INTEGER_RANGE = _define("FS-1017", "value", "Integer out of range")
PRIMITIVE_EXTENSION_MISMATCH = _define(
    "FS-1018", "structure", "Primitive and its _extension array do not align"
)

# --- 2xxx: resource state and versioning ------------------------------------------------
NOT_FOUND = _define("FS-2001", "not-found", "Resource not found")
GONE = _define("FS-2002", "deleted", "Resource was deleted")
VERSION_NOT_FOUND = _define("FS-2003", "not-found", "Version not found")
VERSION_CONFLICT = _define("FS-2004", "conflict", "Version conflict")
PRECONDITION_FAILED = _define("FS-2005", "conflict", "Precondition failed")
MULTIPLE_MATCHES = _define("FS-2006", "multiple-matches", "More than one resource matched")
CONCURRENT_WRITE = _define("FS-2007", "conflict", "A concurrent write won; retry")
CONDITION_REQUIRED = _define("FS-2008", "required", "A search condition is required")

# --- 3xxx: search -----------------------------------------------------------------------
UNKNOWN_SEARCH_PARAMETER = _define("FS-3001", "not-supported", "Unknown search parameter")
INVALID_SEARCH_VALUE = _define("FS-3002", "invalid", "Invalid search parameter value")
UNSUPPORTED_SEARCH_FEATURE = _define("FS-3003", "not-supported", "Search feature not supported")

# --- 4xxx: bundles ----------------------------------------------------------------------
INVALID_BUNDLE = _define("FS-4001", "invalid", "Invalid batch or transaction Bundle")
BUNDLE_ENTRY_FAILED = _define("FS-4002", "processing", "A transaction entry failed")
UNRESOLVED_REFERENCE = _define("FS-4003", "not-found", "A reference could not be resolved")
DUPLICATE_FULL_URL = _define("FS-4004", "invalid", "Two entries share a fullUrl")

# --- 5xxx: patch and operations ---------------------------------------------------------
INVALID_PATCH = _define("FS-5001", "invalid", "Invalid patch document")
PATCH_FAILED = _define("FS-5002", "processing", "The patch could not be applied")
UNKNOWN_OPERATION = _define("FS-5003", "not-supported", "Unknown operation")

# --- 7xxx: plugins ----------------------------------------------------------------------
PLUGIN_REJECTED = _define("FS-7001", "business-rule", "A plugin refused the write")
PLUGIN_FAILED = _define("FS-7002", "exception", "A plugin failed")

# --- 9xxx: server faults ----------------------------------------------------------------
DATABASE_UNAVAILABLE = _define("FS-9001", "transient", "The database is unavailable")
INTERNAL_ERROR = _define("FS-9002", "exception", "Internal server error")
