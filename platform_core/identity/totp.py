"""Time-based one-time passwords (RFC 6238, pyotp) as an optional second factor.

Enrolment: the account page makes a secret, shows it and its ``otpauth://`` URI, and keeps it
in the session until the user proves their authenticator app has it by typing a code; only
then is it stored, sealed with the data key (:mod:`platform_core.auth.sealing`), in
``auth_user.totp_secret``. At login a code is accepted for the current
30-second step or one step either side (clock drift), and never twice: the step of the last
accepted code is kept in ``identity_totp_step`` and a code must be for a later step.
"""

from __future__ import annotations

import hmac
import time

import pyotp
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from platform_core.auth.schema import UserRow
from platform_core.auth.sealing import Sealer
from platform_core.auth.stored_secrets import totp_context
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.identity.errors import IdentityError
from platform_core.identity.schema import TotpStepRow

ISSUER = "Fireside"
INTERVAL_S = 30
DRIFT_STEPS = 1
_USERS = UserRow.__table__
_STEPS = TotpStepRow.__table__


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app imports (usually shown as a QR code)."""
    return pyotp.TOTP(secret, interval=INTERVAL_S).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step ``code`` is valid for (now, or one step either side), or None."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=INTERVAL_S)
    now_step = int((time.time() if at is None else at) // INTERVAL_S)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * INTERVAL_S), code):
            return step
    return None


def _accept_step(conn: sa.Connection, user_id: str, step: int) -> bool:
    """Record ``step`` as used; False when it (or a later one) was used already."""
    last = conn.execute(
        sa.select(_STEPS.c.last_step).where(_STEPS.c.user_id == user_id).with_for_update()
    ).scalar_one_or_none()
    if last is None:
        conn.execute(sa.insert(_STEPS).values(user_id=user_id, last_step=step))
        return True
    if step <= last:
        return False
    conn.execute(sa.update(_STEPS).where(_STEPS.c.user_id == user_id).values(last_step=step))
    return True


def verify_login_code(db: Engine, sealer: Sealer, user_id: str, code: str) -> bool:
    """Whether ``code`` is a valid, not yet used code of the user's stored secret."""
    try:
        with write_transaction(db) as conn:
            stored = conn.execute(
                sa.select(_USERS.c.totp_secret).where(_USERS.c.id == user_id)
            ).scalar_one_or_none()
            if not stored:
                return False
            secret = sealer.unseal(stored, context=totp_context(user_id))
            step = matching_step(secret, code)
            return step is not None and _accept_step(conn, user_id, step)
    except IntegrityError:  # a concurrent login with a code recorded the first step
        return False


def enable(db: Engine, sealer: Sealer, user_id: str, secret: str, code: str) -> None:
    """Store ``secret`` once ``code`` proves the user's app has it; raises ``invalid_totp``."""
    step = matching_step(secret, code)
    if step is None:
        raise IdentityError("invalid_totp", "The code is not correct. Check your app's clock.")
    with write_transaction(db) as conn:
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(
                totp_secret=sealer.seal(secret, context=totp_context(user_id)),
                updated_at=now_utc(),
            )
        )
        conn.execute(sa.delete(_STEPS).where(_STEPS.c.user_id == user_id))
        _accept_step(conn, user_id, step)


def disable(db: Engine, user_id: str) -> None:
    """Turn the second factor off."""
    with write_transaction(db) as conn:
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(totp_secret=None, updated_at=now_utc())
        )
        conn.execute(sa.delete(_STEPS).where(_STEPS.c.user_id == user_id))
