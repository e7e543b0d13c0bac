"""A stand-in for Twilio's Programmable Messaging "Create a Message" call.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP Basic auth with the Account SID
and Auth Token, form fields ``To``, ``From`` or ``MessagingServiceSid``, ``Body``. As Twilio:

- missing or wrong credentials: 401 ``{"code": 20003, "message": "Authenticate", ...}`` with a
  ``WWW-Authenticate: Basic`` challenge;
- another account's URL, or any other URL: 404 ``20404``;
- no ``To``: 400 ``21604``; no ``From`` or ``MessagingServiceSid``: 400 ``21603``; no ``Body``:
  400 ``21602``; a ``To`` not in E.164: 400 ``21211``; a ``Body`` over 1600 characters: 400
  ``21617``; a ``From`` not among ``senders`` (when set): 400 ``21606``;
- success: 201 with the Message resource (``sid`` ``SM`` + 32 hex, ``status`` ``queued``, or
  ``accepted`` through a Messaging Service).

Errors are ``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.care.standins.server import StandIn, json_response

E164 = re.compile(r"\+[1-9]\d{1,14}")
MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages\.json")
MAX_BODY = 1600
FAILURE_CODES = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service Unavailable"),
}


def twilio_error(status: int, code: int | None, message: str, **headers: str) -> Response:
    more_info = f"https://www.twilio.com/docs/errors/{code}" if code else None
    return json_response(
        {"code": code, "message": message, "more_info": more_info, "status": status},
        status,
        headers=headers or None,
    )


class TwilioStandIn(StandIn):
    """Twilio's Messages API for one account."""

    default_endpoint = "messages"

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        senders: set[str] | None = None,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.senders = senders
        self.messages: list[dict[str, Any]] = []
        """The Message resources created, in order."""

    def endpoint(self, request: Request) -> str | None:
        if request.method == "POST" and MESSAGES_PATH.fullmatch(request.path):
            return "messages"
        return None

    def failure(self, endpoint: str, status: int) -> Response:
        code, message = FAILURE_CODES.get(status, (None, f"HTTP {status}"))
        return twilio_error(status, code, message)

    def handle(self, endpoint: str | None, request: Request) -> Response:
        if not self._authenticated(request):
            return twilio_error(
                401, 20003, "Authenticate", **{"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        match = MESSAGES_PATH.fullmatch(request.path)
        if endpoint is None or match is None or match.group(1) != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return self._create(request.form)

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    def _create(self, form: Any) -> Response:
        to = form.get("To", "")
        sender = form.get("From", "")
        service = form.get("MessagingServiceSid", "")
        body = form.get("Body", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if not E164.fullmatch(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if len(body) > MAX_BODY:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if sender and self.senders is not None and sender not in self.senders:
            return twilio_error(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        sid = "SM" + secrets.token_hex(16)
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        resource = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": str(1 + (len(body) - 1) // 153 if len(body) > 160 else 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }
        with self._lock:
            self.messages.append(resource)
        return json_response(resource, 201)
