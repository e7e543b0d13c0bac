"""Handing one delivery to its channel: email through the core's mailer, SMS and push through
the provider adapters of :mod:`plugins.notifications.channels`.

:func:`sms_sender` and :func:`push_sender` are the one place the plugin asks which provider
is configured (tests replace the two lookups of this module with recording senders). Each
send returns ``(provider, provider message id)`` or raises ``MailError`` /
``DeliveryError``; the deliver job decides whether to retry.
"""

from __future__ import annotations

import hashlib
import logging
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from platform_core.identity.mail import FileMailer, SmtpMailer, compose
from platform_core.identity.services import sender_for
from plugins.notifications.catalog import EMAIL, PUSH, SMS, NotificationSettings
from plugins.notifications.channels.base import (
    DeliveryError,
    PushMessage,
    PushSender,
    SmsMessage,
    SmsSender,
    push_sender_from_settings,
    sms_sender_from_settings,
)

log = logging.getLogger(__name__)
PROVIDERS_MODULE = "plugins.notifications.channels.providers"


def sms_sender(core: Any) -> SmsSender | None:
    """The configured SMS provider, or None (none configured, or no adapters installed)."""
    try:
        return sms_sender_from_settings(core.settings.extra)
    except ModuleNotFoundError as exc:
        if exc.name != PROVIDERS_MODULE:
            raise
        return None


def push_sender(core: Any) -> PushSender | None:
    """The configured push provider, or None."""
    try:
        return push_sender_from_settings(core.settings.extra)
    except ModuleNotFoundError as exc:
        if exc.name != PROVIDERS_MODULE:
            raise
        return None


def available(core: Any, channel: str) -> bool:
    """Whether ``channel`` can carry messages in this process. A provider whose
    configuration is broken counts as absent (logged), so email still goes out."""
    if channel == EMAIL:
        return True
    try:
        return (sms_sender(core) if channel == SMS else push_sender(core)) is not None
    except Exception:
        log.exception("the %s provider is misconfigured; no %s messages are sent", channel, channel)
        return False


def message_id(delivery: Any, host: str) -> str:
    """A ``Message-ID`` that is the same for every attempt of one delivery, so a message a
    crash made us send twice is recognisable as one."""
    digest = hashlib.sha256(delivery.key.encode()).hexdigest()[:20]
    return f"<notification.{delivery.id}.{digest}@{host}>"


def email_message(core: Any, delivery: Any) -> Message:
    """The email of ``delivery``: plain text, from ``notifications_email_from`` (or the
    core's ``no-reply`` sender), with a stable ``Message-ID``."""
    settings = NotificationSettings.of(core.settings)
    sender = settings.email_from or sender_for(core.settings)
    message = compose(
        sender=sender, to=delivery.destination, subject=delivery.title or "", body=delivery.body
    )
    host = urlsplit(core.settings.base_url).hostname or "localhost"
    message.replace_header("Message-ID", message_id(delivery, host))
    message["Content-Language"] = delivery.language
    message["X-Fireside-Event"] = delivery.event
    return message


def _mailer_name(mailer: Any) -> str:
    if isinstance(mailer, SmtpMailer):
        return "smtp"
    if isinstance(mailer, FileMailer):
        return "file"
    return type(mailer).__name__.lower()


def send(core: Any, delivery: Any) -> tuple[str, str]:
    """Hand ``delivery`` to its channel: ``(provider, provider message id)``. Raises
    ``MailError`` or ``DeliveryError`` (``retryable`` False when trying again cannot help)."""
    if delivery.channel == EMAIL:
        message = email_message(core, delivery)
        core.mailer.send(message)
        return _mailer_name(core.mailer), str(message["Message-ID"])
    if delivery.channel == SMS:
        sms = sms_sender(core)
        if sms is None:
            raise DeliveryError("no SMS provider is configured", retryable=False)
        return sms.name, sms.send(SmsMessage(to=delivery.destination, body=delivery.body))
    if delivery.channel == PUSH:
        push = push_sender(core)
        if push is None:
            raise DeliveryError("no push provider is configured", retryable=False)
        data = {str(k): str(v) for k, v in (delivery.data or {}).items()}
        message = PushMessage(
            token=delivery.destination, title=delivery.title or "", body=delivery.body, data=data
        )
        return push.name, push.send(message)
    raise DeliveryError(f"unknown channel {delivery.channel!r}", retryable=False)
