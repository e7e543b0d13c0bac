"""The authorization services of one app: the key ring and the access-token service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from platform_core.auth.bearer import Authenticator
from platform_core.auth.grants import GrantResolver
from platform_core.auth.keys import KeyRing
from platform_core.auth.tokens import TokenService
from platform_core.config import Settings

ID_TOKEN_TTL_S = 3600
"""Lifetime of an OpenID Connect id token."""


@dataclass
class AuthServices:
    """Token signing and verification, shared by the authorization server and the APIs."""

    keys: KeyRing
    tokens: TokenService
    grants: GrantResolver
    authenticator: Authenticator

    @classmethod
    def build(cls, settings: Settings, db: Engine) -> AuthServices:
        longest = timedelta(seconds=max(settings.access_token_ttl_s, ID_TOKEN_TTL_S) + 60)
        keys = KeyRing(
            db, rotation=timedelta(days=settings.signing_key_rotation_days), longest_token=longest
        )
        tokens = TokenService(
            db,
            keys,
            issuer=settings.base_url.rstrip("/"),
            audience=settings.fhir_base_url,
            ttl=settings.access_token_ttl_s,
        )
        grants = GrantResolver(db)
        return cls(keys, tokens, grants, Authenticator(tokens, grants))
