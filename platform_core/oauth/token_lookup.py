"""Finding a presented token, for introspection and revocation.

An access token is one of our signed JWTs (``at+jwt``): its signature tells it is ours, its
claims whose it is, and ``core.auth.tokens.verify`` whether it is still good (unexpired,
unrevoked, for the FHIR audience); the user behind it must moreover still be active on the
same token generation. Anything else is looked up as a refresh token (by hash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from platform_core.auth.keys import InvalidToken
from platform_core.auth.tokens import AccessToken
from platform_core.fhir.instants import now_utc
from platform_core.identity.session import session_is_active
from platform_core.identity.users import get_user
from platform_core.oauth import families

if TYPE_CHECKING:
    from platform_core.app import Core


@dataclass(frozen=True)
class FoundToken:
    """A token of ours (authlib's ``TokenMixin`` as the endpoints use it)."""

    kind: str
    """``access_token`` or ``refresh_token``."""
    client_id: str
    active: bool
    details: dict[str, Any] = field(default_factory=dict)
    """Introspection fields (RFC 7662 §2.2 and SMART's context)."""
    jti: str | None = None
    expires_at: datetime | None = None
    family_id: str | None = None

    def check_client(self, client: Any) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def is_expired(self) -> bool:
        return not self.active

    def is_revoked(self) -> bool:
        return not self.active


def user_still_valid(core: Core, user_id: str | None, generation: int | None) -> bool:
    """Whether tokens of ``user_id`` at ``generation`` still hold (always for no user)."""
    if user_id is None:
        return True
    user = get_user(core.db, user_id)
    return user is not None and user.is_active and user.token_generation == generation


def find_token(core: Core, raw: str, hint: str | None = None) -> FoundToken | None:
    """The token ``raw``, or None when this server did not issue it."""
    if not raw or len(raw) > 8192:
        return None
    if raw.count(".") == 2:
        found = _find_access_token(core, raw)
        if found is not None or hint == "access_token":
            return found
    return _find_refresh_token(core, raw)


def _find_access_token(core: Core, raw: str) -> FoundToken | None:
    tokens = core.auth.tokens
    try:
        claims = core.auth.keys.decode(raw)
    except InvalidToken:
        return None
    jti, exp, client_id = claims.get("jti"), claims.get("exp"), claims.get("client_id")
    if not isinstance(jti, str) or not isinstance(exp, int) or not isinstance(client_id, str):
        return None  # an id token, not an access token
    expiry = tokens.decode_unverified_expiry(raw)
    expires_at = expiry[1] if expiry else None
    try:
        token: AccessToken | None = tokens.verify(raw)
    except InvalidToken:
        token = None
    active = token is not None and user_still_valid(core, token.user_id, token.generation)
    details: dict[str, Any] = {}
    if token is not None and active:
        details = {
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": claims.get("sub"),
            "iss": tokens.issuer,
            "aud": tokens.audience,
            "exp": int(token.expires_at.timestamp()),
            "iat": int(token.issued_at.timestamp()),
            "jti": token.jti,
            "token_type": "Bearer",
        }
        optional = {
            "fhirUser": token.fhir_user,
            "patient": token.patient,
            "encounter": token.encounter,
            "fhirContext": list(token.fhir_context) or None,
        }
        details.update({k: v for k, v in optional.items() if v is not None})
    return FoundToken("access_token", client_id, active, details, jti, expires_at)


def _find_refresh_token(core: Core, raw: str) -> FoundToken | None:
    token = families.find_refresh_token(core.db, raw)
    if token is None:
        return None
    family = token.family
    active = token.is_usable(now_utc()) and user_still_valid(
        core, family.user_id, family.generation
    )
    if active and not family.offline:
        active = family.session_hash is not None and session_is_active(core.db, family.session_hash)
    details: dict[str, Any] = {}
    if active:
        details = {
            "scope": family.scope,
            "client_id": family.client_id,
            "sub": family.user_id,
            "iss": core.auth.tokens.issuer,
            "exp": int(token.expires_at.timestamp()),
        }
        if family.context.patient:
            details["patient"] = family.context.patient
    return FoundToken(
        "refresh_token",
        family.client_id,
        active,
        details,
        expires_at=token.expires_at,
        family_id=family.id,
    )
