"""Africa's Talking SMS: one message through the bulk messaging call.

``POST {base}/version1/messaging`` with the headers ``apiKey: <key>`` and
``Accept: application/json`` and a form body: ``username``, ``to`` (one number), ``message``,
and ``from`` (a sender ID or short code) when one is configured. The live base URL is
``https://api.africastalking.com``, the sandbox's ``https://api.sandbox.africastalking.com``
(with the username ``sandbox``).

The answer reports each recipient on its own::

    {"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000",
      "Recipients": [{"statusCode": 101, "number": "+254711000000", "status": "Success",
                      "cost": "KES 0.8000", "messageId": "ATXid_..."}]}}

usually with HTTP 201. When no recipient was taken the same body can come with another HTTP
status (406 for a blacklisted number and 409 for a Nigerian do-not-disturb window have been
seen), so the recipient's ``statusCode`` decides whatever the HTTP status; only an answer
without that body is judged by its HTTP status (401 ``The supplied authentication is
invalid`` in plain text for a wrong key or username: final).

Recipient status codes (``RECIPIENT_STATUSES``): 100 Processed, 101 Sent, 102 Queued are
success; the failures are final unless trying later can help (405 InsufficientBalance: a
top-up; 409 DoNotDisturbRejection: the allowed hours; 500 InternalServerError and
501 GatewayError: a passing fault).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from plugins.notifications.channels.base import DeliveryError, SmsMessage
from plugins.notifications.channels.providers import (
    AFRICASTALKING_BASE_URL,
    DEFAULT_HTTP_TIMEOUT_S,
    HttpAnswer,
    http_post,
    retryable_status,
)

ACCEPTED = frozenset({100, 101, 102})
RECIPIENT_STATUSES: dict[int, tuple[str, bool]] = {
    # code: (status, retryable)
    100: ("Processed", False),
    101: ("Sent", False),
    102: ("Queued", False),
    401: ("RiskHold", False),  # held by Africa's Talking's fraud checks: needs their support
    402: ("InvalidSenderId", False),  # the configured ``from`` is not approved
    403: ("InvalidPhoneNumber", False),
    404: ("UnsupportedNumberType", False),  # a landline, a short code...
    405: ("InsufficientBalance", True),  # a top-up makes the same message go through
    406: ("UserInBlacklist", False),  # the person opted out of this sender
    407: ("CouldNotRoute", False),  # no route to that number's network
    409: ("DoNotDisturbRejection", True),  # promotional sender outside the allowed hours
    500: ("InternalServerError", True),
    501: ("GatewayError", True),
    502: ("RejectedByGateway", False),  # the operator refused this message
}


class AfricasTalkingSms:
    """Sends an SMS through Africa's Talking. Never retries by itself."""

    name = "africastalking"

    def __init__(
        self,
        *,
        username: str,
        api_key: str,
        sender: str | None = None,
        base_url: str = AFRICASTALKING_BASE_URL,
        timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
    ) -> None:
        """:param sender: an approved sender ID or short code; None lets Africa's Talking use
        the account's default."""
        self.username = username
        self.sender = sender
        self.timeout_s = timeout_s
        self.url = f"{base_url.rstrip('/')}/version1/messaging"
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"AfricasTalkingSms(username={self.username!r}, url={self.url!r})"

    def send(self, message: SmsMessage) -> str:
        """Send to the one recipient; its ``messageId``. Raises :class:`DeliveryError`."""
        if "," in message.to:
            # ``to`` is a comma-separated list for the provider: never send to more than one.
            raise DeliveryError("africastalking: one recipient per message", retryable=False)
        fields = {"username": self.username, "to": message.to, "message": message.body}
        if self.sender:
            fields["from"] = self.sender
        answer = http_post(
            self.url,
            body=urlencode(fields).encode("utf-8"),
            headers={
                "apiKey": self._api_key,
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            timeout_s=self.timeout_s,
            provider=self.name,
        )
        data = _message_data(answer)
        if data is None:
            if 200 <= answer.status < 300:
                raise DeliveryError(
                    f"africastalking: HTTP {answer.status} without SMSMessageData: {answer.text()}",
                    retryable=True,
                )
            raise DeliveryError(
                f"africastalking: HTTP {answer.status}: {answer.text() or 'no body'}"
                f"{answer.retry_after()}",
                retryable=retryable_status(answer.status),
            )
        recipients = data.get("Recipients")
        if not isinstance(recipients, list) or not recipients:
            # Nobody was even tried; the summary says why (an unknown sender ID, for one).
            raise DeliveryError(
                f"africastalking: HTTP {answer.status}, no recipient: {data.get('Message')}",
                retryable=500 <= answer.status <= 599,
            )
        return _outcome(recipients[0], answer.status)


def _message_data(answer: HttpAnswer) -> dict[str, Any] | None:
    body = answer.json()
    if isinstance(body, dict) and isinstance(body.get("SMSMessageData"), dict):
        return body["SMSMessageData"]
    return None


def _outcome(recipient: Any, http_status: int) -> str:
    """The ``messageId`` of an accepted recipient, or the :class:`DeliveryError` its status
    code calls for."""
    if not isinstance(recipient, dict):
        raise DeliveryError(f"africastalking: unreadable recipient {recipient!r}")
    raw_code = recipient.get("statusCode")
    code = int(raw_code) if str(raw_code).isdigit() else 0
    status = str(recipient.get("status") or RECIPIENT_STATUSES.get(code, ("?", False))[0])
    message_id = recipient.get("messageId")
    if code in ACCEPTED:
        if isinstance(message_id, str) and message_id and message_id != "None":
            return message_id
        raise DeliveryError(
            f"africastalking: recipient status {code} {status} without a messageId",
            retryable=True,
        )
    known = RECIPIENT_STATUSES.get(code)
    retryable = known[1] if known else 500 <= code <= 599
    raise DeliveryError(
        f"africastalking: HTTP {http_status}, recipient status {code} {status}",
        retryable=retryable,
    )
