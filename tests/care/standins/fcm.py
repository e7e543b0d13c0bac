"""A stand-in for Firebase Cloud Messaging's HTTP v1 API and Google's OAuth 2 token endpoint.

``POST /token`` (the service account's ``token_uri``) takes
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``. As Google's, it
checks the JWT's RS256 signature against the public key of the service account named by
``iss``, its ``aud`` (the token URI), its ``iat``/``exp`` (an hour at most, not expired) and its
``scope``, and answers 200 ``{"access_token", "expires_in", "token_type": "Bearer"}`` or 400
``{"error": "invalid_grant" | "invalid_scope" | ..., "error_description"}``.

``POST /v1/projects/{project_id}/messages:send`` checks the bearer token (401 UNAUTHENTICATED
when missing, unknown, expired or revoked, with ``WWW-Authenticate``), its scope and project
(403 PERMISSION_DENIED), and the message: JSON with known fields only, exactly one target,
string ``data`` values (400 INVALID_ARGUMENT with a ``google.rpc.BadRequest`` field violation,
as FCM words it), a well-formed token (400 INVALID_ARGUMENT with FcmError INVALID_ARGUMENT);
a token the test marked in ``unregistered`` answers 404 NOT_FOUND with FcmError UNREGISTERED.
A reserved ``data`` key (``from``, ``google...``, ``gcm...``) answers 400 INVALID_ARGUMENT too
(FCM's wording for it is not published; the message is ours). Success: 200
``{"name": "projects/<p>/messages/<id>"}``. Errors are
``{"error": {"code", "message", "status", "details"}}``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Request, Response

from tests.care.standins.server import StandIn, json_response

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
SEND_PATH_PREFIX = "/v1/projects/"
SEND_PATH_SUFFIX = "/messages:send"
MESSAGE_FIELDS = frozenset(
    {
        "name",
        "data",
        "notification",
        "android",
        "webpush",
        "apns",
        "fcm_options",
        "token",
        "topic",
        "condition",
    }
)
NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
TARGETS = ("token", "topic", "condition")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
FCM_CODES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    404: ("UNREGISTERED", "Requested entity was not found."),
    429: ("QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'."),
    500: ("INTERNAL", "Internal error encountered."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
}
MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


def google_error(
    status: int,
    message: str,
    *,
    fcm_code: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A Google API error answer, with an FcmError detail when ``fcm_code`` is given."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    items = list(details or [])
    if fcm_code:
        items.append({"@type": FCM_ERROR_TYPE, "errorCode": fcm_code})
    if items:
        error["details"] = items
    return json_response({"error": error}, status, headers=headers)


def field_violation(field: str, description: str) -> Response:
    return google_error(
        400,
        description,
        details=[
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": field, "description": description}],
            }
        ],
    )


def unknown_field(name: str, where: str = "") -> Response:
    at = f" at '{where}'" if where else ""
    return field_violation(
        where, f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    )


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


@dataclass
class Issued:
    """An access token the stand-in issued."""

    client_email: str
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False


class FcmStandIn(StandIn):
    """FCM HTTP v1 for one Firebase project, with its OAuth 2 token endpoint."""

    default_endpoint = "send"

    def __init__(self, project_id: str = "fireside-test", *, token_lifetime_s: int = 3599) -> None:
        super().__init__()
        self.project_id = project_id
        self.token_lifetime_s = token_lifetime_s
        self.accounts: dict[str, tuple[RSAKey, str]] = {}
        """client_email -> (public key, private_key_id) of the service accounts it trusts."""
        self.unregistered: set[str] = set()
        """Device tokens FCM no longer knows (answered UNREGISTERED)."""
        self.issued: dict[str, Issued] = {}
        self.messages: list[dict[str, Any]] = []
        """The messages accepted, as received (the ``message`` object), in order."""

    @property
    def token_uri(self) -> str:
        return self.base_url + "/token"

    def trust(self, client_email: str, public_key_pem: bytes, private_key_id: str) -> None:
        """Accept assertions signed by this service account's key."""
        self.accounts[client_email] = (RSAKey.import_key(public_key_pem), private_key_id)

    def revoke_tokens(self) -> None:
        """Make every access token issued so far invalid (FCM will answer 401)."""
        with self._lock:
            for issued in self.issued.values():
                issued.revoked = True

    # --- routing -------------------------------------------------------------------------

    def endpoint(self, request: Request) -> str | None:
        if request.method != "POST":
            return None
        if request.path == "/token":
            return "token"
        if request.path.startswith(SEND_PATH_PREFIX) and request.path.endswith(SEND_PATH_SUFFIX):
            return "send"
        return None

    def failure(self, endpoint: str, status: int) -> Response:
        if endpoint == "token":
            error = "internal_failure" if status >= 500 else "invalid_request"
            return oauth_error(error, f"HTTP {status}", status)
        if status == 401:
            return google_error(401, INVALID_CREDENTIAL)
        fcm_code, message = FCM_CODES.get(status, (None, f"HTTP {status}"))
        return google_error(status, message, fcm_code=fcm_code)

    def handle(self, endpoint: str | None, request: Request) -> Response:
        if endpoint == "token":
            return self._token(request)
        if endpoint == "send":
            return self._send(request)
        return google_error(404, f"The requested URL {request.path} was not found on this server.")

    # --- the token endpoint --------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        grant_type = request.form.get("grant_type", "")
        if grant_type != JWT_BEARER_GRANT:
            return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = request.form.get("assertion", "")
        if not assertion:
            return oauth_error("invalid_request", "Missing required parameter: assertion")
        unverified = _peek_claims(assertion)
        if unverified is None:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        account = self.accounts.get(str(unverified.get("iss")))
        if account is None:
            return oauth_error("invalid_grant", "Invalid grant: account not found")
        public_key, _kid = account
        try:
            token = jwt.decode(assertion, public_key, algorithms=["RS256"])
        except (JoseError, ValueError):
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        claims = token.claims
        if claims.get("aud") != self.token_uri:
            return oauth_error(
                "invalid_grant",
                "Invalid JWT: Failed audience check. The expected value was "
                f"{self.token_uri} but the actual value was {claims.get('aud')}",
            )
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if not (
            isinstance(iat, int)
            and isinstance(exp, int)
            and 0 < exp - iat <= 3600
            and iat - 300 <= now < exp
        ):
            return oauth_error("invalid_grant", SHORT_LIVED)
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            return oauth_error(
                "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        access_token = "ya29.standin-" + secrets.token_urlsafe(32)
        with self._lock:
            self.issued[access_token] = Issued(
                client_email=str(claims["iss"]),
                scopes=scopes,
                expires_at=now + self.token_lifetime_s,
            )
        return json_response(
            {
                "access_token": access_token,
                "expires_in": self.token_lifetime_s,
                "token_type": "Bearer",
            },
            200,
        )

    # --- the send endpoint ---------------------------------------------------------------

    def _send(self, request: Request) -> Response:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not bearer:
            return google_error(401, MISSING_CREDENTIAL, headers=_challenge(""))
        with self._lock:
            issued = self.issued.get(bearer)
        if issued is None or issued.revoked or issued.expires_at <= time.time():
            return google_error(401, INVALID_CREDENTIAL, headers=_challenge("invalid_token"))
        if FCM_SCOPE not in issued.scopes:
            return google_error(403, "Request had insufficient authentication scopes.")
        project = request.path[len(SEND_PATH_PREFIX) : -len(SEND_PATH_SUFFIX)]
        if project != self.project_id:
            return google_error(
                403,
                "Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project}' "
                "(or it may not exist).",
            )
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return google_error(400, "Invalid JSON payload received. Unexpected token.")
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received. Expected an object.")
        for name in body:
            if name not in {"message", "validate_only"}:
                return unknown_field(name)
        message = body.get("message")
        if not isinstance(message, dict):
            return field_violation("message", "Invalid value at 'message': a message is required.")
        problem = _check_message(message)
        if problem is not None:
            return problem
        token = message.get("token")
        if token is not None and (
            not isinstance(token, str) or not token or any(c.isspace() for c in token)
        ):
            return google_error(
                400,
                "The registration token is not a valid FCM registration token",
                fcm_code="INVALID_ARGUMENT",
            )
        if token in self.unregistered:
            return google_error(404, "Requested entity was not found.", fcm_code="UNREGISTERED")
        if body.get("validate_only") is True:
            return json_response(
                {"name": f"projects/{self.project_id}/messages/fake_message_id"}, 200
            )
        message_id = f"0:{int(time.time() * 1000)}%{secrets.token_hex(8)}"
        with self._lock:
            self.messages.append(message)
        return json_response({"name": f"projects/{self.project_id}/messages/{message_id}"}, 200)


def _check_message(message: dict[str, Any]) -> Response | None:
    """The INVALID_ARGUMENT answer for a malformed ``message``, or None."""
    for name in message:
        if name not in MESSAGE_FIELDS:
            return unknown_field(name, "message")
    targets = [t for t in TARGETS if t in message]
    if not targets:
        return google_error(400, "Recipient of the message is not set.")
    if len(targets) > 1:
        return google_error(
            400,
            "Invalid value at 'message' (oneof), oneof field 'target' is already set. "
            f"Cannot set '{targets[1]}'",
        )
    notification = message.get("notification")
    if notification is not None:
        if not isinstance(notification, dict):
            return field_violation(
                "message.notification", "Invalid value at 'message.notification'"
            )
        for name, value in notification.items():
            if name not in NOTIFICATION_FIELDS:
                return unknown_field(name, "message.notification")
            if not isinstance(value, str):
                return field_violation(
                    f"message.notification.{name}",
                    f"Invalid value at 'message.notification.{name}' (TYPE_STRING), "
                    + json.dumps(value),
                )
    data = message.get("data")
    if data is not None:
        if not isinstance(data, dict):
            return field_violation("message.data", "Invalid value at 'message.data'")
        for index, (key, value) in enumerate(data.items()):
            if not isinstance(value, str):
                return field_violation(
                    f"message.data[{index}].value",
                    f"Invalid value at 'message.data[{index}].value' (TYPE_STRING), "
                    + json.dumps(value),
                )
            lowered = key.lower()
            if lowered == "from" or lowered.startswith(("google", "gcm")):
                return google_error(
                    400, f"Invalid data payload key: {key}", fcm_code="INVALID_ARGUMENT"
                )
    return None


def _challenge(error: str) -> dict[str, str]:
    value = 'Bearer realm="https://accounts.google.com/"'
    if error:
        value += f', error="{error}"'
    return {"WWW-Authenticate": value}


def _peek_claims(assertion: str) -> dict[str, Any] | None:
    """The JWT's claims, unverified (to find which account's key verifies it)."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


@cache
def signing_key_for(slot: int) -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key generated with ``cryptography``, one per ``slot`` and process
    (generating one takes a noticeable fraction of a second)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_service_account(
    directory: Path,
    standin: FcmStandIn,
    *,
    client_email: str = "fireside-push@fireside-test.iam.gserviceaccount.com",
    key_slot: int = 0,
    trusted: bool = True,
) -> Path:
    """Write a Google service account JSON key file for ``standin``'s project and token URI
    into ``directory``, with the RSA key of ``key_slot``, and (when ``trusted``) register its
    public key with the stand-in. The path of the file."""
    private_key = signing_key_for(key_slot)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    key_id = secrets.token_hex(20)
    if trusted:
        standin.trust(
            client_email,
            private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            key_id,
        )
    path = directory / f"service-account-{key_id[:8]}.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": standin.project_id,
                "private_key_id": key_id,
                "private_key": pem,
                "client_email": client_email,
                "client_id": str(secrets.randbelow(10**20)),
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": standin.token_uri,
            }
        ),
        encoding="utf-8",
    )
    return path
