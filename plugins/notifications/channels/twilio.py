"""Twilio Programmable Messaging: one SMS through the "Create a Message" call.

``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (Account
SID : Auth Token) and a form body: ``To``, ``Body``, and ``From`` (a Twilio number or an
alphanumeric sender ID) or ``MessagingServiceSid`` (when the configured sender is an ``MG...``
SID). Twilio answers 201 with the new Message resource; its ``sid`` (``SM`` + 32 hex) is the
provider message id.

Errors come as JSON ``{"code", "message", "more_info", "status"}``. Twilio asks clients not to
branch on its numeric codes (they are refined over time), so the mapping follows the HTTP
status: 400/401/403/404 (bad number, bad credentials, unknown account) are final; 408, 429
and 5xx are retried. The code and message go into the error text for the delivery log.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, urlencode

from plugins.notifications.channels.base import DeliveryError, SmsMessage
from plugins.notifications.channels.providers import (
    DEFAULT_HTTP_TIMEOUT_S,
    TWILIO_BASE_URL,
    HttpAnswer,
    http_post,
    retryable_status,
)

MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")


class TwilioSms:
    """Sends an SMS through Twilio. Never retries by itself."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str = TWILIO_BASE_URL,
        timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
    ) -> None:
        """:param sender: a phone number in E.164, an alphanumeric sender ID, or a Messaging
        Service SID (``MG`` + 32 hex)."""
        self.account_sid = account_sid
        self.sender = sender
        self.timeout_s = timeout_s
        self.url = (
            f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
            "/Messages.json"
        )
        credentials = f"{account_sid}:{auth_token}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode("ascii")

    def __repr__(self) -> str:
        return f"TwilioSms(account_sid={self.account_sid!r}, sender={self.sender!r})"

    def send(self, message: SmsMessage) -> str:
        """Create the Message; its ``sid``. Raises :class:`DeliveryError`."""
        fields = {"To": message.to, "Body": message.body}
        if MESSAGING_SERVICE_SID.fullmatch(self.sender):
            fields["MessagingServiceSid"] = self.sender
        else:
            fields["From"] = self.sender
        answer = http_post(
            self.url,
            body=urlencode(fields).encode("ascii"),
            headers={
                "Authorization": self._authorization,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            timeout_s=self.timeout_s,
            provider=self.name,
        )
        if 200 <= answer.status < 300:
            created = answer.json()
            sid = created.get("sid") if isinstance(created, dict) else None
            if isinstance(sid, str) and sid:
                return sid
            # Most likely not Twilio at all (a proxy's page): the message was not created.
            raise DeliveryError(
                f"twilio: HTTP {answer.status} without a message sid: {answer.text()}",
                retryable=True,
            )
        raise _error(answer)


def _error(answer: HttpAnswer) -> DeliveryError:
    """A Twilio error answer as a :class:`DeliveryError`, final or retryable by status."""
    error = answer.json()
    if isinstance(error, dict) and ("code" in error or "message" in error):
        detail = f"error {error.get('code')}: {error.get('message')}"
        if error.get("more_info"):
            detail += f" ({error['more_info']})"
    else:
        detail = answer.text() or "no body"
    return DeliveryError(
        f"twilio: HTTP {answer.status}, {detail}{answer.retry_after()}",
        retryable=retryable_status(answer.status),
    )
