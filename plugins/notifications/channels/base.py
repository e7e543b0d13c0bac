"""What every delivery channel adapter offers, and how it fails.

An adapter turns one rendered message into one provider call. It never retries by itself:
the delivery job does (through the outbox), so a provider outage is retried with backoff and,
after the last attempt, recorded as failed in the delivery log, never lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class DeliveryError(Exception):
    """A provider did not take the message.

    ``retryable`` is False when trying again cannot help (a rejected number, a bad token, an
    unregistered device): the delivery is recorded as failed at once."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SmsMessage:
    """A text message to one phone number (E.164, ``+2348012345678``)."""

    to: str
    body: str


@dataclass(frozen=True)
class PushMessage:
    """A push notification to one device registration token."""

    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    """String key/value pairs for the app (FCM allows strings only)."""


class SmsSender(Protocol):
    """An SMS provider (Twilio, Africa's Talking)."""

    name: str

    def send(self, message: SmsMessage) -> str:
        """Hand the message over; the provider's message id. Raises :class:`DeliveryError`."""
        ...


class PushSender(Protocol):
    """A push provider (Firebase Cloud Messaging)."""

    name: str

    def send(self, message: PushMessage) -> str:
        """Hand the message over; the provider's message id. Raises :class:`DeliveryError`."""
        ...


def sms_sender_from_settings(extra: dict[str, Any]) -> SmsSender | None:
    """The SMS adapter that ``notifications_sms_provider`` names (``twilio`` or
    ``africastalking``), configured from the settings; None when no provider is set."""
    from plugins.notifications.channels.providers import make_sms_sender

    return make_sms_sender(extra)


def push_sender_from_settings(extra: dict[str, Any]) -> PushSender | None:
    """The push adapter (``notifications_push_provider = "fcm"``); None when not set."""
    from plugins.notifications.channels.providers import make_push_sender

    return make_push_sender(extra)
