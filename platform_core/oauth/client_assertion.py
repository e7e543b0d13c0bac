"""``private_key_jwt`` client authentication (RFC 7523 §2.2, SMART Backend Services).

The client posts ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
and a ``client_assertion`` JWT that it signed with its private key. The checks, in order
(each failure is ``invalid_client`` and writes nothing):

1. the header's ``alg`` is RS384 or ES384 (no ``none``, no HMAC keyed with a public key);
2. ``sub`` names an active asymmetric client, whose key set (inline or ``jwks_uri``) verifies
   the signature;
3. ``iss`` = ``sub`` = the client id, ``aud`` = this server's token endpoint URL, ``exp``
   in the future but at most five minutes ahead;
4. ``jti`` has not been seen for this client: it is inserted into ``oauth_jti`` (a primary
   key, so two concurrent replays cannot both pass), where it stays until the assertion
   would have expired anyway. A validly signed assertion is spent at this point, even if the
   token request then fails for another reason.

Built on authlib's :class:`JWTBearerClientAssertion`, which does the claim checks; ours adds
the algorithm list, the key lookup by ``kid`` and the replay table.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.oauth.clients import ASSERTION_ALGS, Client, JwksCache
from platform_core.oauth.schema import AssertionJtiRow

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME_S = 300
"""An assertion may not expire more than five minutes after it is presented (SMART)."""
LEEWAY_S = 30
"""Clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
SWEEP_EVERY_S = 60.0
"""How often a process deletes expired ``oauth_jti`` rows."""

_JTI = AssertionJtiRow.__table__


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """authlib client-authentication method ``private_key_jwt``."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, db: Engine, token_url: str, keys: JwksCache) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY_S)
        self.db = db
        self.token_url = token_url
        self.keys = keys
        self._swept = 0.0
        self._sweep_lock = threading.Lock()

    def get_audiences(self) -> list[str]:
        return [self.token_url]

    def __call__(self, query_client: Any, request: OAuth2Request) -> Client | None:
        """The authenticated client, None when the request carries no assertion (another
        method may apply), or ``invalid_client``."""
        form = request.form
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None
        headers, claims = self.extract_assertion(assertion)
        if headers.get("alg") not in ASSERTION_ALGS:
            raise InvalidClientError(
                status_code=401,
                description="The client assertion must be signed with RS384 or ES384.",
            )
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or not client_id:
            raise InvalidClientError(status_code=401, description="The assertion has no 'sub'.")
        client = query_client(client_id)
        if client is None or not client.check_endpoint_auth_method(self.CLIENT_AUTH_METHOD, ""):
            raise InvalidClientError(
                status_code=401, description="No client may authenticate with this assertion."
            )
        kid = headers.get("kid")
        try:
            key_set = self.keys.key_set(client, kid if isinstance(kid, str) else None)
        except ValueError as exc:
            raise InvalidClientError(
                status_code=401, description="The client's keys are not available."
            ) from exc
        try:
            token = jwt.decode(assertion, key_set, algorithms=list(ASSERTION_ALGS))
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(
                status_code=401, description="The client assertion signature does not verify."
            ) from exc
        self.verify_claims(token.claims)
        request.client = client
        return client

    def verify_claims(self, claims: dict[str, Any]) -> None:
        """authlib's checks (iss, sub, aud, exp, jti) plus SMART's five-minute limit."""
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp > time.time() + MAX_LIFETIME_S + LEEWAY_S:
            raise InvalidClientError(
                status_code=401,
                description="The assertion's 'exp' must be at most five minutes ahead.",
            )
        try:
            super().verify_claims(claims)
        except InvalidClientError as exc:
            exc.status_code = 401
            raise

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        """Claim ``jti`` for this client; False when it was used before."""
        if not isinstance(jti, str) or not jti or len(jti) > 255:
            return False
        self._sweep()
        expires = datetime.fromtimestamp(int(claims["exp"]) + LEEWAY_S, UTC)
        try:
            with write_transaction(self.db) as conn:
                conn.execute(
                    sa.insert(_JTI).values(client_id=claims["sub"], jti=jti, expires_at=expires)
                )
        except IntegrityError:
            return False
        return True

    def _sweep(self) -> None:
        """Delete expired ``jti`` rows, at most once a minute per process."""
        now = time.monotonic()
        if now - self._swept < SWEEP_EVERY_S or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._swept = now
            with write_transaction(self.db) as conn:
                conn.execute(sa.delete(_JTI).where(_JTI.c.expires_at < now_utc()))
        finally:
            self._sweep_lock.release()


def assertion_client_id(form: Any) -> str | None:
    """The client id an assertion claims (unverified), for audit records of failures."""
    assertion = form.get("client_assertion")
    if not assertion:
        return None
    try:
        claims = JWTBearerClientAssertion().extract_assertion(assertion)[1]
    except (InvalidClientError, ValueError):
        return None
    sub = claims.get("sub")
    return sub[:64] if isinstance(sub, str) else None


__all__ = ["ASSERTION_TYPE", "MAX_LIFETIME_S", "PrivateKeyJwt", "assertion_client_id"]
