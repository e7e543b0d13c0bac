"""A stand-in for Africa's Talking's SMS sending call (live or sandbox: one API).

``POST /version1/messaging`` with the header ``apiKey`` and the form fields ``username``,
``to`` (comma-separated numbers), ``message`` and an optional ``from``. As Africa's Talking:

- a wrong ``apiKey`` or ``username``: 401, ``The supplied authentication is invalid`` in plain
  text;
- otherwise ``{"SMSMessageData": {"Message": "Sent to n/m Total Cost: ...", "Recipients": [...]}}``
  with one entry per number: ``statusCode`` 101 ``Success`` with a ``messageId``
  (``ATXid_...``) and a cost, or a failure (``messageId`` ``None``, cost ``0``): 403
  ``InvalidPhoneNumber`` for a number that is not ``+`` and 7 to 15 digits, or the code a test
  set for that number in ``recipient_statuses`` (406 ``UserInBlacklist``, 405
  ``InsufficientBalance``...);
- HTTP 201 when a recipient was taken. When none was, the body is the same and the HTTP status
  is the first recipient's ``statusCode`` (as observed for 406 and documented for 409), or
  ``rejection_http_status`` when a test sets it (201, to check a client reads the recipients
  whatever the status).

Stand-in choices where the provider's answer is not published: a missing ``to`` or
``message`` answers 400 in plain text; a request without ``Accept: application/json`` (the real
API would answer XML) answers 406.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.care.standins.server import StandIn, json_response

NUMBER = re.compile(r"\+[1-9]\d{6,14}")
COST = "KES 0.8000"
STATUS_NAMES = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}


def text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


class AfricasTalkingStandIn(StandIn):
    """Africa's Talking's messaging API for one app (username and API key)."""

    default_endpoint = "messaging"

    def __init__(self, username: str = "sandbox", api_key: str | None = None) -> None:
        super().__init__()
        self.username = username
        self.api_key = api_key or "atsk_" + secrets.token_hex(32)
        self.recipient_statuses: dict[str, int] = {}
        """A status code to answer for a number (a failure code from ``STATUS_NAMES``)."""
        self.rejection_http_status: int | None = None
        self.messages: list[dict[str, str]] = []
        """One entry per recipient taken: ``to``, ``message``, ``from``, ``messageId``."""

    def endpoint(self, request: Request) -> str | None:
        if request.method == "POST" and request.path == "/version1/messaging":
            return "messaging"
        return None

    def failure(self, endpoint: str, status: int) -> Response:
        reasons = {
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }
        return text(reasons.get(status, f"HTTP {status}"), status)

    def handle(self, endpoint: str | None, request: Request) -> Response:
        if endpoint is None:
            return text("Not Found", 404)
        form = request.form
        key_ok = secrets.compare_digest(request.headers.get("apiKey", ""), self.api_key)
        if not key_ok or form.get("username", "") != self.username:
            return text("The supplied authentication is invalid", 401)
        for name in ("to", "message"):
            if not form.get(name):
                return text(f"Request is missing required form field '{name}'", 400)
        if "application/json" not in request.headers.get("Accept", ""):
            return text("Only Accept: application/json is spoken here", 406)
        numbers = [n.strip() for n in form["to"].split(",") if n.strip()]
        recipients = [self._recipient(n, form) for n in numbers]
        taken = [r for r in recipients if r["statusCode"] in {100, 101, 102}]
        total = 0.8 * len(taken)
        summary = f"Sent to {len(taken)}/{len(recipients)} Total Cost: " + (
            f"KES {total:.4f}" if taken else "0"
        )
        if taken:
            status = 201
        elif self.rejection_http_status is not None:
            status = self.rejection_http_status
        else:
            status = recipients[0]["statusCode"] if recipients else 400
        body = {"SMSMessageData": {"Message": summary, "Recipients": recipients}}
        return json_response(body, status)

    def _recipient(self, number: str, form: Any) -> dict[str, Any]:
        code = self.recipient_statuses.get(number)
        if code is None:
            code = 101 if NUMBER.fullmatch(number) else 403
        if code in {100, 101, 102}:
            message_id = "ATXid_" + secrets.token_hex(16)
            with self._lock:
                self.messages.append(
                    {
                        "to": number,
                        "message": form["message"],
                        "from": form.get("from", ""),
                        "messageId": message_id,
                    }
                )
            return {
                "statusCode": code,
                "number": number,
                "status": STATUS_NAMES[code],
                "cost": COST,
                "messageId": message_id,
                "messageParts": 1 + len(form["message"]) // 161,
            }
        return {
            "statusCode": code,
            "number": number,
            "status": STATUS_NAMES.get(code, "Failed"),
            "cost": "0",
            "messageId": "None",
        }
