"""Firebase Cloud Messaging, HTTP v1 API: one push notification to one device token.

``POST {base}/v1/projects/{project_id}/messages:send`` with ``Authorization: Bearer <token>``
and ``{"message": {"token", "notification": {"title", "body"}, "data": {...}}}``; FCM answers
200 ``{"name": "projects/<p>/messages/<id>"}`` and the ``name`` is the provider message id.

The bearer token is an OAuth 2 access token of a Google service account
(:class:`GoogleAccessTokens`): a JWT signed RS256 with the account's private key (``iss`` =
``client_email``, ``scope`` = firebase.messaging, ``aud`` = ``token_uri``, an hour at most) is
exchanged at ``token_uri`` (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``) for
``{"access_token", "expires_in", "token_type": "Bearer"}``. The token is kept, for every
thread, until shortly before it expires. A 401 from FCM (the token was revoked or expired
early) drops it, fetches a new one and sends once more within the same call.

Errors are ``{"error": {"code", "message", "status", "details": [...]}}``; the FCM reason is
the ``errorCode`` of the ``google.firebase.fcm.v1.FcmError`` detail. UNREGISTERED (404) raises
:class:`TokenUnregistered` (final: the caller should forget the token); INVALID_ARGUMENT (400),
SENDER_ID_MISMATCH / PERMISSION_DENIED (403) and THIRD_PARTY_AUTH_ERROR (401: the APNs or web
push credentials in the Firebase project) are final; QUOTA_EXCEEDED (429), INTERNAL (500),
UNAVAILABLE (503) and any other 5xx are retried.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey

from plugins.notifications.channels.base import DeliveryError, PushMessage
from plugins.notifications.channels.providers import (
    DEFAULT_HTTP_TIMEOUT_S,
    FCM_BASE_URL,
    HttpAnswer,
    check_url,
    http_post,
    retryable_status,
)

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
ASSERTION_LIFETIME_S = 3600
"""Google accepts assertions valid for an hour at most."""
REFRESH_MARGIN_S = 300
"""A cached access token is replaced this long before it expires (at most half its life)."""


class TokenUnregistered(DeliveryError):
    """FCM answered UNREGISTERED: the device token is gone for good (the app was uninstalled
    or the token rotated). Final; the caller should stop sending to it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


# --- the service account ------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a Google service account JSON key that FCM needs."""

    client_email: str
    private_key: str
    token_uri: str
    project_id: str
    private_key_id: str = ""

    def __repr__(self) -> str:  # never print the private key
        return f"ServiceAccount(client_email={self.client_email!r}, project_id={self.project_id!r})"

    @cached_property
    def signing_key(self) -> RSAKey:
        """The private key, parsed once (parsing checks the key, which takes a while)."""
        return RSAKey.import_key(self.private_key)


REQUIRED_FIELDS = ("client_email", "private_key", "token_uri", "project_id")


def load_service_account(
    path: str | Path, *, setting: str = "service account file"
) -> ServiceAccount:
    """Read and check a service account JSON key.

    :param setting: the settings key that named the file, for error messages.
    :raises ValueError: the file is unreadable, not JSON, lacks a field, its ``token_uri`` is
        not https, or its private key is not an RSA key.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{setting}: cannot read {path}: {error.strerror or error}") from None
    except ValueError:
        raise ValueError(f"{setting}: {path} is not a JSON service account key") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{setting}: {path} is not a JSON service account key")
    missing = [
        name for name in REQUIRED_FIELDS if not isinstance(raw.get(name), str) or not raw[name]
    ]
    if missing:
        raise ValueError(f"{setting}: {path} lacks {', '.join(missing)}")
    check_url(raw["token_uri"], f"{setting}: token_uri", example=GOOGLE_TOKEN_URI)
    account = ServiceAccount(
        client_email=raw["client_email"],
        private_key=raw["private_key"],
        token_uri=raw["token_uri"],
        project_id=raw["project_id"],
        private_key_id=str(raw.get("private_key_id") or ""),
    )
    try:
        _ = account.signing_key  # parsed now, so a bad key fails at startup
    except (ValueError, TypeError):
        raise ValueError(f"{setting}: the private_key in {path} is not an RSA key") from None
    return account


# --- access tokens ------------------------------------------------------------------------


class GoogleAccessTokens:
    """OAuth 2 access tokens of a service account, fetched with a signed JWT and cached.

    Thread-safe: one lock guards the cache and the fetch, so threads that need a token at the
    same moment share one token request.
    """

    def __init__(
        self,
        account: ServiceAccount,
        *,
        scope: str = FCM_SCOPE,
        timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """:param monotonic: the clock the cache's expiry is measured on (tests move it)."""
        self.account = account
        self.scope = scope
        self.timeout_s = timeout_s
        self._monotonic = monotonic
        self._key = account.signing_key
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self) -> str:
        """A valid access token: the cached one, or a new one. Raises :class:`DeliveryError`."""
        with self._lock:
            if self._token is None or self._monotonic() >= self._renew_at:
                self._token, lifetime = self._fetch()
                margin = min(REFRESH_MARGIN_S, lifetime / 2)
                self._renew_at = self._monotonic() + lifetime - margin
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (refused by the API) unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def assertion(self) -> str:
        """The signed JWT that asks ``token_uri`` for an access token."""
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT"}
        if self.account.private_key_id:
            header["kid"] = self.account.private_key_id
        claims = {
            "iss": self.account.client_email,
            "scope": self.scope,
            "aud": self.account.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
        }
        return jwt.encode(header, claims, self._key, algorithms=["RS256"])

    def _fetch(self) -> tuple[str, float]:
        """Exchange a fresh assertion for an access token: (token, lifetime in seconds)."""
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}
        answer = http_post(
            self.account.token_uri,
            body=urlencode(form).encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            timeout_s=self.timeout_s,
            provider="fcm",
        )
        grant = answer.json()
        if answer.status == 200 and isinstance(grant, dict):
            token = grant.get("access_token")
            expires_in = grant.get("expires_in")
            if isinstance(token, str) and token and isinstance(expires_in, int | float):
                return token, float(expires_in)
        if isinstance(grant, dict) and "error" in grant:
            detail = f"{grant.get('error')}: {grant.get('error_description', '')}".rstrip(": ")
        else:
            detail = answer.text() or "no body"
        # 400/401 (invalid_grant, invalid_scope...): the key or the clock is wrong; trying the
        # same again cannot help. 429/5xx: Google's side.
        raise DeliveryError(
            f"fcm: the token endpoint answered HTTP {answer.status}, {detail}"
            f"{answer.retry_after()}",
            retryable=answer.status == 200 or retryable_status(answer.status),
        )


# --- the sender ---------------------------------------------------------------------------


class FcmPush:
    """Sends a push notification through FCM HTTP v1. Never retries by itself, except the
    one resend after a refused access token."""

    name = "fcm"

    def __init__(
        self,
        account: ServiceAccount,
        *,
        base_url: str = FCM_BASE_URL,
        timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
        tokens: GoogleAccessTokens | None = None,
    ) -> None:
        self.account = account
        self.timeout_s = timeout_s
        self.url = (
            f"{base_url.rstrip('/')}/v1/projects/{quote(account.project_id, safe='')}/messages:send"
        )
        self.tokens = tokens or GoogleAccessTokens(account, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"FcmPush(project_id={self.account.project_id!r}, url={self.url!r})"

    def send(self, message: PushMessage) -> str:
        """Send; the message ``name``. Raises :class:`DeliveryError` (or
        :class:`TokenUnregistered`)."""
        fcm_message: dict[str, Any] = {
            "token": message.token,
            "notification": {"title": message.title, "body": message.body},
        }
        if message.data:
            # Sent as given: FCM refuses non-string values (INVALID_ARGUMENT), which shows a
            # caller's bug instead of hiding it.
            fcm_message["data"] = dict(message.data)
        body = json.dumps({"message": fcm_message}, ensure_ascii=False).encode("utf-8")
        token = self.tokens.get()
        answer = self._post(body, token)
        if answer.status == 401 and _fcm_code(answer) != "THIRD_PARTY_AUTH_ERROR":
            self.tokens.invalidate(token)
            answer = self._post(body, self.tokens.get())
            if answer.status == 401 and _fcm_code(answer) != "THIRD_PARTY_AUTH_ERROR":
                raise DeliveryError(
                    f"fcm: a fresh access token was refused too: {_describe(answer)}",
                    retryable=True,
                )
        if answer.status == 200:
            sent = answer.json()
            name = sent.get("name") if isinstance(sent, dict) else None
            if isinstance(name, str) and name:
                return name
            raise DeliveryError(f"fcm: HTTP 200 without a message name: {answer.text()}")
        raise _error(answer)

    def _post(self, body: bytes, token: str) -> HttpAnswer:
        return http_post(
            self.url,
            body=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json; charset=UTF-8",
                "Accept": "application/json",
            },
            timeout_s=self.timeout_s,
            provider=self.name,
        )


def _error_body(answer: HttpAnswer) -> dict[str, Any]:
    body = answer.json()
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _fcm_code(answer: HttpAnswer) -> str:
    """The FcmError ``errorCode`` of an error answer, or ""."""
    for detail in _error_body(answer).get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return str(detail.get("errorCode") or "")
    return ""


def _describe(answer: HttpAnswer) -> str:
    error = _error_body(answer)
    if not error:
        return f"HTTP {answer.status}: {answer.text() or 'no body'}"
    reason = _fcm_code(answer) or error.get("status") or "?"
    return f"HTTP {answer.status} {reason}: {error.get('message', '')}{answer.retry_after()}"


def _error(answer: HttpAnswer) -> DeliveryError:
    """An FCM error answer as a :class:`DeliveryError`, final or retryable."""
    code = _fcm_code(answer)
    if code == "UNREGISTERED":
        return TokenUnregistered(f"fcm: {_describe(answer)}")
    return DeliveryError(f"fcm: {_describe(answer)}", retryable=retryable_status(answer.status))
