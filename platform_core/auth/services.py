"""The authorization services of one app: the key ring and the access-token service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from platform_core.auth.bearer import Authenticator
from platform_core.auth.grants import GrantResolver
from platform_core.auth.keys import KeyRing
from platform_core.auth.sealing import Sealer
from platform_core.auth.tokens import TokenService
from platform_core.config import Settings
from platform_core.key_files import load_or_create_data_key

ID_TOKEN_TTL_S = 3600
"""Lifetime of an OpenID Connect id token."""


@dataclass
class AuthServices:
    """Token signing and verification, shared by the authorization server and the APIs."""

    keys: KeyRing
    tokens: TokenService
    grants: GrantResolver
    authenticator: Authenticator
    sealer: Sealer
    """Seals the secrets kept in the database (``data_keys``)."""

    @classmethod
    def build(cls, settings: Settings, db: Engine, read_db: Engine | None = None) -> AuthServices:
        """The services on ``db``; ``read_db`` (the repository's read engine) serves the
        lookups made on every request (the account behind a user's token)."""
        longest = timedelta(seconds=max(settings.access_token_ttl_s, ID_TOKEN_TTL_S) + 60)
        sealer = Sealer(settings.data_keys or (load_or_create_data_key(),))
        keys = KeyRing(
            db,
            sealer,
            rotation=timedelta(days=settings.signing_key_rotation_days),
            longest_token=longest,
        )
        tokens = TokenService(
            db,
            keys,
            issuer=settings.base_url.rstrip("/"),
            audience=settings.fhir_base_url,
            ttl=settings.access_token_ttl_s,
        )
        grants = GrantResolver(read_db or db)
        return cls(keys, tokens, grants, Authenticator(tokens, grants), sealer)
