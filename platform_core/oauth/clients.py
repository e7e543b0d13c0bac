"""Registered clients: the three SMART client types, how they authenticate, and their keys.

* ``public``: a browser or native app with no secret; authenticates with ``none`` (its
  ``client_id`` alone) and must use PKCE, as every client must here.
* ``confidential-symmetric``: has a client secret (``client_secret_basic`` or
  ``client_secret_post``); only the secret's SHA-256 is stored, and the secret is shown once,
  at registration.
* ``confidential-asymmetric``: signs a JWT assertion with its private key
  (``private_key_jwt``, RS384 or ES384); its public keys are registered inline or published
  at a ``jwks_uri`` that is fetched with urllib and cached per process.

:class:`Client` is what authlib's server sees (it implements ``ClientMixin``); the rest of the
package never touches ``oauth_client`` rows directly.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import urllib.request
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.engine import Engine

from platform_core.auth.secrets import digest
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.oauth import smart_scopes
from platform_core.oauth.schema import ClientRow

KINDS = ("public", "confidential-symmetric", "confidential-asymmetric")
"""The SMART client types."""
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = {
    "public": frozenset({"none"}),
    "confidential-symmetric": frozenset({"client_secret_basic", "client_secret_post"}),
    "confidential-asymmetric": frozenset({"private_key_jwt"}),
}
"""How each kind of client proves who it is at the token, introspection and revocation
endpoints."""
ASSERTION_ALGS = ("RS384", "ES384")
"""Signature algorithms accepted for client assertions (SMART Backend Services)."""
JWKS_CACHE_S = 300.0
"""How long a fetched ``jwks_uri`` key set is trusted before it is fetched again."""
JWKS_REFETCH_S = 10.0
"""An unknown ``kid`` refetches the key set, but not more often than this."""
JWKS_MAX_BYTES = 256 * 1024

_CLIENTS = ClientRow.__table__


class ClientRegistrationError(ValueError):
    """A client that cannot be registered as described (the message says why)."""


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """A registered client, as authlib's server and the views see it."""

    client_id: str
    name: str
    kind: str
    """One of :data:`KINDS`."""
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scope: tuple[str, ...]
    """The scopes the client may be granted."""
    secret_hash: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    active: bool = True

    # --- authlib's ClientMixin -----------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """None: SMART apps must always name their ``redirect_uri``."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes narrowed to what this client may have in a user's
        authorization (never ``system/``); None when nothing is left."""
        allowed = [s for s in self.scope if not smart_scopes.is_context(s, "system")]
        kept = smart_scopes.narrow(smart_scopes.split(scope), allowed)
        return " ".join(kept) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match against a registered URI (no prefix or pattern matching)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS[self.kind]

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    # --- ours ------------------------------------------------------------------------------
    @property
    def is_public(self) -> bool:
        return self.kind == "public"


@dataclass(frozen=True)
class RegisteredClient:
    """The result of :func:`register_client`: the client and, for a symmetric client, its
    secret in clear (shown once, never stored)."""

    client: Client
    client_secret: str | None


def _client_from_row(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.name,
        kind=row.kind,
        redirect_uris=tuple(orjson.loads(row.redirect_uris)),
        grant_types=frozenset(row.grant_types.split()),
        scope=tuple(row.scope.split()),
        secret_hash=row.secret_hash,
        jwks=orjson.loads(row.jwks) if row.jwks else None,
        jwks_uri=row.jwks_uri,
        active=row.active,
    )


def get_client(db: Engine, client_id: str) -> Client | None:
    """The active client with this id, or None."""
    if not client_id or len(client_id) > 64:
        return None
    with db.connect() as conn:
        row = conn.execute(sa.select(_CLIENTS).where(_CLIENTS.c.client_id == client_id)).first()
    if row is None or not row.active:
        return None
    return _client_from_row(row)


def list_clients(db: Engine) -> list[Client]:
    """Every registered client, switched off or not, by id."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(_CLIENTS).order_by(_CLIENTS.c.client_id)).all()
    return [_client_from_row(row) for row in rows]


class SwitchedOffClients:
    """The ids of switched-off clients, as this process last read them (at most a second
    ago): the bearer check refuses their tokens, so switching a client off ends the access
    tokens already issued to it, on every node, within a second. One small query a second
    per process, rather than one per request."""

    def __init__(self, db: Engine, refresh_s: float = 1.0) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self._ids: frozenset[str] = frozenset()
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    def is_active(self, client_id: str) -> bool:
        """False when ``client_id`` is switched off."""
        if time.monotonic() - self._read_at > self.refresh_s:
            self.refresh()
        return client_id not in self._ids

    def refresh(self) -> None:
        """Read the switched-off clients now."""
        with self._lock, self.db.connect() as conn:
            query = sa.select(_CLIENTS.c.client_id).where(_CLIENTS.c.active.is_(False))
            self._ids = frozenset(conn.execute(query).scalars())
            self._read_at = time.monotonic()


def set_client_active(db: Engine, client_id: str, active: bool) -> bool:
    """Switch a client off or back on; False when no such client exists. Off, its token
    requests fail, its refresh tokens stop working (the client is not found) and its access
    tokens are refused (:class:`SwitchedOffClients`)."""
    with write_transaction(db) as conn:
        result = conn.execute(
            sa.update(_CLIENTS).where(_CLIENTS.c.client_id == client_id).values(active=active)
        )
    return result.rowcount == 1


# --- registration ------------------------------------------------------------------------
def check_redirect_uri(uri: str) -> str:
    """``uri`` if it may be registered: absolute, no fragment, ``https`` (``http`` only on
    the loopback interface) or a private-use scheme of a native app (``com.example.app:``,
    RFC 8252). Raises :class:`ClientRegistrationError` otherwise."""
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise ClientRegistrationError(f"redirect URI {uri!r} must not have a fragment")
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1", "::1"}:
        return uri
    if "." in parts.scheme and parts.scheme not in {"http", "https"}:
        return uri
    raise ClientRegistrationError(
        f"redirect URI {uri!r} must be https, http on localhost, or a private-use scheme"
    )


def check_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    """The key set if it holds only public RSA (2048 bits or more) or P-384 EC keys."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ClientRegistrationError("jwks must be an object with a non-empty 'keys' array")
    for key in keys:
        if not isinstance(key, dict) or "d" in key:
            raise ClientRegistrationError("jwks must hold public keys only")
        if key.get("kty") not in {"RSA", "EC"}:
            raise ClientRegistrationError("jwks keys must be RSA or EC (RS384 / ES384)")
        if key.get("kty") == "EC" and key.get("crv") != "P-384":
            raise ClientRegistrationError("EC keys must be on curve P-384 (ES384)")
    try:
        key_set = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError) as exc:
        raise ClientRegistrationError(f"jwks is not a valid JSON Web Key Set: {exc}") from exc
    for key in key_set.keys:
        if isinstance(key, RSAKey) and key.raw_value.key_size < 2048:
            raise ClientRegistrationError("RSA keys must have at least 2048 bits")
    return {"keys": keys}


def _default_grant_types(kind: str) -> tuple[str, ...]:
    if kind == "confidential-asymmetric":
        return ("client_credentials",)
    return ("authorization_code", "refresh_token")


def register_client(
    db: Engine,
    *,
    name: str,
    kind: str,
    scope: str | Sequence[str],
    redirect_uris: Iterable[str] = (),
    grant_types: Iterable[str] | None = None,
    jwks: dict[str, Any] | None = None,
    jwks_uri: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    plugin_scopes: Collection[str] = (),
) -> RegisteredClient:
    """Register a client and return it (with its secret, for a symmetric client).

    ``kind`` is one of :data:`KINDS`; ``scope`` the scopes it may be granted (resource scopes
    may use ``*`` and cover narrower ones); ``grant_types`` default to authorization code and
    refresh token, or client credentials for an asymmetric client. A symmetric client gets a
    random secret unless ``client_secret`` is given. Raises :class:`ClientRegistrationError`
    before anything is written when the description is inconsistent.
    """
    if kind not in KINDS:
        raise ClientRegistrationError(f"kind must be one of {', '.join(KINDS)}")
    name = name.strip()
    if not name or len(name) > 200:
        raise ClientRegistrationError("name must be 1 to 200 characters")
    scopes = smart_scopes.split(scope if isinstance(scope, str) else " ".join(scope))
    if not scopes:
        raise ClientRegistrationError("a client needs at least one allowed scope")
    try:
        smart_scopes.check_syntax(scopes, plugin_scopes)
    except smart_scopes.ScopeSyntaxError as exc:
        raise ClientRegistrationError(str(exc)) from exc
    grants = tuple(dict.fromkeys(grant_types or _default_grant_types(kind)))
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown:
        raise ClientRegistrationError(f"unknown grant type(s): {', '.join(unknown)}")
    if kind == "public" and "client_credentials" in grants:
        raise ClientRegistrationError("a public client cannot use client_credentials")
    uris = tuple(dict.fromkeys(check_redirect_uri(u) for u in redirect_uris))
    if "authorization_code" in grants and not uris:
        raise ClientRegistrationError("the authorization_code grant needs a redirect URI")
    if kind == "confidential-asymmetric":
        if (jwks is None) == (jwks_uri is None):
            raise ClientRegistrationError("an asymmetric client needs jwks or jwks_uri")
        if jwks is not None:
            jwks = check_jwks(jwks)
        if jwks_uri is not None:
            parts = urlsplit(jwks_uri)
            local = parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1"}
            if not (parts.scheme == "https" or local) or not parts.netloc:
                raise ClientRegistrationError("jwks_uri must be an https URL")
    elif jwks is not None or jwks_uri is not None:
        raise ClientRegistrationError("only confidential-asymmetric clients have keys")
    if kind != "confidential-symmetric" and client_secret is not None:
        raise ClientRegistrationError("only confidential-symmetric clients have a secret")
    secret = None
    if kind == "confidential-symmetric":
        secret = client_secret or secrets.token_urlsafe(32)
        if len(secret) < 32:
            raise ClientRegistrationError("a client secret must have at least 32 characters")
    client = Client(
        client_id=client_id or uuid.uuid4().hex,
        name=name,
        kind=kind,
        redirect_uris=uris,
        grant_types=frozenset(grants),
        scope=tuple(scopes),
        secret_hash=digest(secret) if secret else None,
        jwks=jwks,
        jwks_uri=jwks_uri,
    )
    if not 1 <= len(client.client_id) <= 64 or not client.client_id.isprintable():
        raise ClientRegistrationError("client_id must be 1 to 64 printable characters")
    with write_transaction(db) as conn:
        taken = conn.execute(
            sa.select(_CLIENTS.c.client_id).where(_CLIENTS.c.client_id == client.client_id)
        ).first()
        if taken is not None:
            raise ClientRegistrationError(f"client_id {client.client_id!r} is taken")
        conn.execute(
            sa.insert(_CLIENTS).values(
                client_id=client.client_id,
                name=client.name,
                kind=kind,
                secret_hash=client.secret_hash,
                redirect_uris=orjson.dumps(list(uris)).decode(),
                grant_types=" ".join(grants),
                scope=" ".join(scopes),
                jwks=orjson.dumps(jwks).decode() if jwks else None,
                jwks_uri=jwks_uri,
                active=True,
                created_at=now_utc(),
            )
        )
    return RegisteredClient(client, secret)


# --- client keys ---------------------------------------------------------------------------
class JwksCache:
    """The public keys of asymmetric clients: inline ones as registered, ``jwks_uri`` ones
    fetched with urllib and kept for :data:`JWKS_CACHE_S` (refetched sooner, at most every
    :data:`JWKS_REFETCH_S`, when an assertion names a ``kid`` the cached set lacks: that is
    how a client rotates its keys)."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._fetched: dict[str, tuple[float, KeySet]] = {}

    def key_set(self, client: Client, kid: str | None = None) -> KeySet:
        """The client's key set; raises ``ValueError`` when it has none or it cannot be
        fetched or parsed."""
        if client.jwks is not None:
            return KeySet.import_key_set(client.jwks)
        if client.jwks_uri is None:
            raise ValueError("the client has no keys")
        uri = client.jwks_uri
        now = time.monotonic()
        cached = self._fetched.get(uri)
        if cached is not None:
            at, key_set = cached
            fresh = now - at < JWKS_CACHE_S
            known = kid is None or any(k.kid == kid for k in key_set.keys)
            if fresh and (known or now - at < JWKS_REFETCH_S):
                return key_set
        key_set = self._fetch(uri)
        with self._lock:
            self._fetched[uri] = (time.monotonic(), key_set)
        return key_set

    def _fetch(self, uri: str) -> KeySet:
        request = urllib.request.Request(uri, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(JWKS_MAX_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"could not fetch the client's jwks_uri: {exc}") from exc
        if len(raw) > JWKS_MAX_BYTES:
            raise ValueError("the client's key set is too large")
        try:
            return KeySet.import_key_set(check_jwks(orjson.loads(raw)))
        except (orjson.JSONDecodeError, ClientRegistrationError) as exc:
            raise ValueError(
                f"the client's jwks_uri does not hold a usable key set: {exc}"
            ) from exc

    def forget(self) -> None:
        """Drop every fetched key set (tests, or after a client's keys were compromised)."""
        with self._lock:
            self._fetched.clear()


__all__ = [
    "ASSERTION_ALGS",
    "AUTH_METHODS",
    "KINDS",
    "Client",
    "ClientRegistrationError",
    "JwksCache",
    "RegisteredClient",
    "check_jwks",
    "check_redirect_uri",
    "get_client",
    "register_client",
    "set_client_active",
]
