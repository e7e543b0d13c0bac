"""Authorization codes: stored as their SHA-256, single-use, expiring after
``settings.auth_code_ttl_s``.

A code is exchanged by :func:`consume` inside the transaction that creates its token family:
``UPDATE ... WHERE used_at IS NULL`` succeeds for exactly one request, however many race. A
code found already used is a replay (or a stolen code): the caller revokes the family issued
from it, as RFC 6749 §4.1.2 advises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from platform_core.auth.secrets import digest
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.oauth.launch_context import LaunchContext
from platform_core.oauth.schema import AuthorizationCodeRow

_CODES = AuthorizationCodeRow.__table__
KEEP_USED_S = 24 * 3600
"""Expired codes are kept this long, so that a replay is still recognised (and revokes what
the first use issued) rather than being merely unknown."""


@dataclass(frozen=True)
class AuthorizationCode:
    """A stored code (authlib's ``AuthorizationCodeMixin``)."""

    code_hash: str
    client_id: str
    user_id: str
    generation: int
    session_hash: str | None
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    context: LaunchContext
    expires_at: datetime
    used_at: datetime | None
    grant_id: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce


@dataclass(frozen=True)
class NewCode:
    """What an approved authorization request stores with its code."""

    client_id: str
    user_id: str
    generation: int
    session_hash: str | None
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    context: LaunchContext


def save(db: Engine, code: str, new: NewCode, ttl_s: int) -> None:
    """Store a freshly generated code (and sweep codes expired long ago)."""
    now = now_utc()
    with write_transaction(db) as conn:
        conn.execute(
            sa.delete(_CODES).where(_CODES.c.expires_at < now - timedelta(seconds=KEEP_USED_S))
        )
        conn.execute(
            sa.insert(_CODES).values(
                code_hash=digest(code),
                client_id=new.client_id,
                user_id=new.user_id,
                generation=new.generation,
                session_hash=new.session_hash,
                redirect_uri=new.redirect_uri,
                scope=new.scope,
                code_challenge=new.code_challenge,
                code_challenge_method=new.code_challenge_method,
                nonce=new.nonce,
                patient=new.context.patient,
                encounter=new.context.encounter,
                fhir_context=new.context.fhir_context_json(),
                need_patient_banner=new.context.need_patient_banner,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_s),
                used_at=None,
                grant_id=None,
            )
        )


def find(db: Engine, code: str, client_id: str) -> AuthorizationCode | None:
    """The code issued to ``client_id``, used or not, expired or not; None when unknown."""
    if not code or len(code) > 200:
        return None
    with db.connect() as conn:
        row = conn.execute(
            sa.select(_CODES).where(
                _CODES.c.code_hash == digest(code), _CODES.c.client_id == client_id
            )
        ).first()
    if row is None:
        return None
    return AuthorizationCode(
        code_hash=row.code_hash,
        client_id=row.client_id,
        user_id=row.user_id,
        generation=row.generation,
        session_hash=row.session_hash,
        redirect_uri=row.redirect_uri,
        scope=row.scope,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        nonce=row.nonce,
        context=LaunchContext.from_columns(
            row.patient, row.encounter, row.fhir_context, row.need_patient_banner
        ),
        expires_at=row.expires_at,
        used_at=row.used_at,
        grant_id=row.grant_id,
    )


def consume(conn: Connection, code_hash: str, grant_id: str) -> bool:
    """Mark the code used by the family ``grant_id``; False when another request used it
    first (the caller must then roll back and treat this as a reuse)."""
    result = conn.execute(
        sa.update(_CODES)
        .where(_CODES.c.code_hash == code_hash, _CODES.c.used_at.is_(None))
        .values(used_at=now_utc(), grant_id=grant_id)
    )
    return result.rowcount == 1


def family_of(db: Engine, code_hash: str) -> str | None:
    """The family issued from a used code (read afresh, after a lost race)."""
    with db.connect() as conn:
        return conn.execute(
            sa.select(_CODES.c.grant_id).where(_CODES.c.code_hash == code_hash)
        ).scalar_one_or_none()
