"""The keys that sign Fireside's tokens, kept in the database so every process and node
signs with the same key and verifies with the same set.

The newest key signs until ``sign_until``; after that a new one is made on first use (two
processes racing both make one, which is harmless: both verify). A retired key stays in the
JWKS until ``verify_until``, past the expiry of every token it signed, so rotation never
breaks a token in flight. Private keys are stored sealed (:mod:`platform_core.auth.sealing`).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.engine import Engine

from platform_core.auth.schema import SigningKeyRow
from platform_core.auth.sealing import Sealer
from platform_core.auth.stored_secrets import signing_key_context
from platform_core.fhir.instants import now_utc

SIGNING_ALG = "RS256"
"""Access tokens and id tokens are RS256 (required for id tokens by OpenID Connect)."""
_REFRESH_S = 30.0
"""How long a process trusts its cached key set before looking at the database again."""
_UNKNOWN_KID_S = 1.0
"""At most one reload of the key set per this many seconds for tokens naming unknown keys."""
_VERIFIED_MAX = 4096
"""How many verified tokens a process remembers (:meth:`KeyRing.decode`)."""


class InvalidToken(Exception):
    """A JWT whose signature, form or key is not valid here."""


@dataclass(frozen=True)
class _Loaded:
    signing: RSAKey | None
    signing_kid: str | None
    verify: KeySet
    public: list[dict[str, Any]]
    kids: frozenset[str]
    """The ``kid`` of every key in ``verify``."""
    at: float


class KeyRing:
    """Signs and verifies JWTs with the database's current key set."""

    def __init__(
        self, db: Engine, sealer: Sealer, *, rotation: timedelta, longest_token: timedelta
    ) -> None:
        self.db = db
        self.sealer = sealer
        self.rotation = rotation
        self.longest_token = longest_token
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._unknown_kid_at = -1.0e9
        """``time.monotonic()`` of the last reload made for a ``kid`` not in the key set."""
        self._verified: dict[str, tuple[str, dict[str, Any]]] = {}
        """Tokens whose signature verified, by their exact text: ``(kid, claims)``."""
        self._verified_lock = threading.Lock()

    def _load(self) -> _Loaded:
        now = now_utc()
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(SigningKeyRow.__table__).where(SigningKeyRow.verify_until > now)
            ).all()
        rows = sorted(rows, key=lambda r: r.created_at, reverse=True)
        current = next((r for r in rows if r.sign_until > now), None)
        verify = KeySet([RSAKey.import_key(orjson.loads(r.public_jwk)) for r in rows])
        signing = None
        if current is not None:
            private = self.sealer.unseal(
                current.private_jwk, context=signing_key_context(current.kid)
            )
            signing = RSAKey.import_key(orjson.loads(private))
        return _Loaded(
            signing,
            current.kid if current else None,
            verify,
            [orjson.loads(r.public_jwk) for r in rows],
            frozenset(r.kid for r in rows),
            time.monotonic(),
        )

    def _state(self, *, need_signing: bool = False, kid: str | None = None) -> _Loaded:
        loaded = self._loaded
        now = time.monotonic()
        stale = loaded is None or now - loaded.at > _REFRESH_S
        unknown_kid = loaded is not None and kid is not None and kid not in loaded.kids
        if unknown_kid:
            # A key made by another process since the last load, or a forged token: look
            # again, but at most once a second, so random kids cannot cost a query each.
            unknown_kid = now - self._unknown_kid_at > _UNKNOWN_KID_S
            if unknown_kid:
                self._unknown_kid_at = now
        missing = loaded is not None and need_signing and loaded.signing is None
        if stale or missing or unknown_kid:
            with self._lock:
                loaded = self._load()
                if need_signing and loaded.signing is None:
                    self._create_key()
                    loaded = self._load()
                self._loaded = loaded
        assert loaded is not None
        return loaded

    def _create_key(self) -> None:
        now = now_utc()
        kid = uuid.uuid4().hex
        key = RSAKey.generate_key(
            2048, parameters={"kid": kid, "alg": SIGNING_ALG, "use": "sig"}, private=True
        )
        with self.db.begin() as conn:
            conn.execute(
                sa.insert(SigningKeyRow.__table__).values(
                    kid=kid,
                    alg=SIGNING_ALG,
                    private_jwk=self.sealer.seal(
                        orjson.dumps(key.as_dict(private=True)).decode(),
                        context=signing_key_context(kid),
                    ),
                    public_jwk=orjson.dumps(key.as_dict(private=False)).decode(),
                    created_at=now,
                    sign_until=now + self.rotation,
                    verify_until=now + self.rotation + self.longest_token,
                )
            )

    def rotate(self) -> str:
        """Stop signing with the current key now and make a new one; returns its ``kid``.
        The old key keeps verifying until its ``verify_until``."""
        now = now_utc()
        with self.db.begin() as conn:
            conn.execute(
                sa.update(SigningKeyRow.__table__)
                .where(SigningKeyRow.sign_until > now)
                .values(sign_until=now, verify_until=now + self.longest_token)
            )
        self._create_key()
        with self._lock:
            self._loaded = self._load()
        assert self._loaded.signing_kid is not None
        return self._loaded.signing_kid

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        """A compact JWS of ``claims`` with the current key."""
        state = self._state(need_signing=True)
        header = {"alg": SIGNING_ALG, "kid": state.signing_kid, "typ": typ}
        return jwt.encode(header, claims, state.signing)

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a token this server signed; raises :class:`InvalidToken` when the
        signature does not verify with a current key. Claims (exp, aud...) are the caller's
        to check.

        A client sends the same access token with every request until it expires, and the
        RSA check is most of what authorizing a request costs (60-400 µs, against about
        2 µs for a lookup). So the last :data:`_VERIFIED_MAX` tokens that verified are
        remembered by their exact text (the signature is part of it: a token with one
        byte changed is a different key and is checked in full), for as long as the key
        that signed them is still in the key set."""
        hit = self._verified.get(token)
        if hit is not None:
            kid, claims = hit
            if kid in self._state().kids:
                return dict(claims)
            with self._verified_lock:
                self._verified.pop(token, None)
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError) as exc:
            raise InvalidToken("not a JWT") from exc
        if header.get("alg") != SIGNING_ALG:
            raise InvalidToken("unexpected algorithm")
        kid = header.get("kid")
        state = self._state(kid=kid)
        try:
            claims = dict(jwt.decode(token, state.verify, algorithms=[SIGNING_ALG]).claims)
        except (JoseError, ValueError) as exc:
            raise InvalidToken("signature does not verify") from exc
        if isinstance(kid, str):
            with self._verified_lock:
                while len(self._verified) >= _VERIFIED_MAX:
                    del self._verified[next(iter(self._verified))]  # the oldest
                self._verified[token] = (kid, claims)
            return dict(claims)
        return claims

    def jwks(self) -> dict[str, Any]:
        """The public keys, as served at the JWKS endpoint."""
        return {"keys": list(self._state(need_signing=True).public)}
