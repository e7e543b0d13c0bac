"""The SMS and push adapters chosen by settings, and the one HTTP call they all make.

``make_sms_sender`` / ``make_push_sender`` read the ``notifications_*`` keys (see
``docs/notification_providers.md``) and build the adapter named by
``notifications_sms_provider`` / ``notifications_push_provider``, or return None when none is
named. A chosen provider with a missing or malformed key raises :class:`ValueError` naming the
key, so a misconfigured server fails at startup instead of at its first reminder.

Plugin keys reach ``Settings.extra`` from the TOML file, ``create_app``'s mapping, or the
environment as ``FIRESIDE_<KEY>`` (upper case; the core's ``load_settings`` maps every
``FIRESIDE_*`` variable it does not know into ``extra``), which is where secrets belong in
production.

:func:`http_post` is the adapters' only way out: a POST with a timeout and no retries. It hands
back every HTTP answer, whatever its status, for the adapter to read in its provider's terms,
and turns the failures that never got an answer (refused connection, DNS, TLS, timeout) into a
retryable :class:`DeliveryError`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from plugins.notifications.channels.base import DeliveryError

if TYPE_CHECKING:
    from plugins.notifications.channels.base import PushSender, SmsSender

ENV_PREFIX = "FIRESIDE_"
DEFAULT_HTTP_TIMEOUT_S = 10.0
TWILIO_BASE_URL = "https://api.twilio.com"
AFRICASTALKING_BASE_URL = "https://api.africastalking.com"
AFRICASTALKING_SANDBOX_BASE_URL = "https://api.sandbox.africastalking.com"
FCM_BASE_URL = "https://fcm.googleapis.com"
SMS_PROVIDERS = ("twilio", "africastalking")
PUSH_PROVIDERS = ("fcm",)
USER_AGENT = "fireside-notifications/1"
_PUSH_SENDERS: dict[tuple[object, ...], PushSender] = {}
_PUSH_SENDERS_LOCK = threading.Lock()


# --- configuration ------------------------------------------------------------------------


class _Config:
    """Settings lookup in ``Settings.extra`` (empty or missing: the default)."""

    def __init__(self, extra: Mapping[str, Any]) -> None:
        self.extra = extra

    def get(self, key: str, default: str = "") -> str:
        value = self.extra.get(key)
        text = "" if value is None else str(value).strip()
        return text or default

    def required(self, key: str, provider: str) -> str:
        value = self.get(key)
        if not value:
            raise ValueError(
                f"{key} is required when the {provider} provider is chosen "
                f"(set it in the config file or as {ENV_PREFIX}{key.upper()})"
            )
        return value

    def base_url(self, key: str, default: str) -> str:
        value = self.get(key, default).rstrip("/")
        check_url(value, key, example=default)
        return value

    def timeout_s(self) -> float:
        key = "notifications_http_timeout_s"
        raw = self.get(key, str(DEFAULT_HTTP_TIMEOUT_S))
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{key} must be a number of seconds, not {raw!r}") from None
        if not 0 < value <= 300:
            raise ValueError(f"{key} must be more than 0 and at most 300 seconds, not {raw!r}")
        return value


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_url(value: str, key: str, *, example: str) -> None:
    """Refuse a provider URL that is not ``https://`` (plain ``http://`` only on a loopback
    host, for local stand-ins): credentials travel with every request.

    :raises ValueError: naming ``key``.
    """
    parts = urlsplit(value)
    if not parts.netloc or parts.scheme not in {"http", "https"}:
        raise ValueError(f"{key} must be an https URL such as {example}, not {value!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"{key} must use https (plain http only on a loopback host), not {value!r}"
        )


def make_sms_sender(extra: Mapping[str, Any]) -> SmsSender | None:
    """The SMS adapter named by ``notifications_sms_provider``; None when it is empty.

    :param extra: ``Settings.extra``.
    :raises ValueError: an unknown provider, or a required key missing or malformed (the
        message names the key).
    """
    config = _Config(extra)
    provider = config.get("notifications_sms_provider").lower()
    if not provider:
        return None
    timeout_s = config.timeout_s()
    if provider == "twilio":
        from plugins.notifications.channels.twilio import TwilioSms

        return TwilioSms(
            account_sid=config.required("notifications_twilio_account_sid", provider),
            auth_token=config.required("notifications_twilio_auth_token", provider),
            sender=config.required("notifications_twilio_from", provider),
            base_url=config.base_url("notifications_twilio_base_url", TWILIO_BASE_URL),
            timeout_s=timeout_s,
        )
    if provider == "africastalking":
        from plugins.notifications.channels.africastalking import AfricasTalkingSms

        return AfricasTalkingSms(
            username=config.required("notifications_africastalking_username", provider),
            api_key=config.required("notifications_africastalking_api_key", provider),
            sender=config.get("notifications_africastalking_from") or None,
            base_url=config.base_url(
                "notifications_africastalking_base_url", AFRICASTALKING_BASE_URL
            ),
            timeout_s=timeout_s,
        )
    raise ValueError(
        f"notifications_sms_provider must be empty or one of {', '.join(SMS_PROVIDERS)}, "
        f"not {provider!r}"
    )


def make_push_sender(extra: Mapping[str, Any]) -> PushSender | None:
    """The push adapter named by ``notifications_push_provider``; None when it is empty.

    The FCM service account file is read and checked here, at startup. Asked again with the
    same settings and an unchanged key file, it returns the same sender (thread-safe), so its
    access token stays cached even for a caller that asks for the sender at every send.

    :raises ValueError: an unknown provider, a missing key, or an unreadable or incomplete
        service account file (the message names the key or the field).
    """
    config = _Config(extra)
    provider = config.get("notifications_push_provider").lower()
    if not provider:
        return None
    if provider == "fcm":
        from plugins.notifications.channels.fcm import FcmPush, load_service_account

        key = "notifications_fcm_service_account_file"
        path = config.required(key, provider)
        base_url = config.base_url("notifications_fcm_base_url", FCM_BASE_URL)
        timeout_s = config.timeout_s()
        # The same configuration gets the same sender, and so keeps its cached access token,
        # however often it is asked for; a rewritten key file (a rotated key) gets a new one.
        try:
            fingerprint = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            fingerprint = ""  # load_service_account says what is wrong
        cache_key = (provider, path, fingerprint, base_url, timeout_s)
        with _PUSH_SENDERS_LOCK:
            sender = _PUSH_SENDERS.get(cache_key)
            if sender is None:
                account = load_service_account(path, setting=key)
                sender = FcmPush(account, base_url=base_url, timeout_s=timeout_s)
                if len(_PUSH_SENDERS) >= 8:
                    _PUSH_SENDERS.clear()
                _PUSH_SENDERS[cache_key] = sender
            return sender
    raise ValueError(
        f"notifications_push_provider must be empty or one of {', '.join(PUSH_PROVIDERS)}, "
        f"not {provider!r}"
    )


# --- the HTTP call ------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpAnswer:
    """What a provider answered: any status, its headers and its raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (a proxy's HTML page, plain text)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self, limit: int = 200) -> str:
        """The start of the body as text, for error messages."""
        text = self.body.decode("utf-8", "replace").strip()
        return text if len(text) <= limit else text[:limit] + "..."

    def retry_after(self) -> str:
        """`` (Retry-After: N)`` when the provider asked for a pause, for error messages."""
        value = self.headers.get("Retry-After")
        return f" (Retry-After: {value})" if value else ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A provider API never redirects a POST; a 3xx means a wrong base URL, answered as is."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def http_post(
    url: str, *, body: bytes, headers: Mapping[str, str], timeout_s: float, provider: str
) -> HttpAnswer:
    """POST ``body`` to ``url`` once, waiting at most ``timeout_s`` for the connection and for
    each read.

    :returns: the answer, whatever its HTTP status.
    :raises DeliveryError: (retryable) when no answer came: connection refused or reset, name
        not resolved, TLS failure, or the timeout.
    """
    request = urllib.request.Request(
        url, data=body, headers={"User-Agent": USER_AGENT, **headers}, method="POST"
    )
    host = urlsplit(url).netloc
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return HttpAnswer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            try:
                content = error.read()
            except (OSError, http.client.HTTPException):
                content = b""
            return HttpAnswer(error.code, error.headers, content)
    except TimeoutError as error:
        raise DeliveryError(
            f"{provider}: no answer from {host} within {timeout_s:g} s", retryable=True
        ) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            detail = f"no connection within {timeout_s:g} s"
        else:
            detail = str(error.reason)
        message = f"{provider}: could not reach {host}: {detail}"
        raise DeliveryError(message, retryable=True) from error
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryError(
            f"{provider}: the connection to {host} failed: {error!r}", retryable=True
        ) from error


def retryable_status(status: int) -> bool:
    """Whether an HTTP error status is worth another try later: 408, 429 and 5xx. Other
    statuses (a 4xx, an unexpected 3xx) mean the request itself is wrong."""
    return status in {408, 429} or 500 <= status <= 599
