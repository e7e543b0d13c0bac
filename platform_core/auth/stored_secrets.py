"""Where Fireside keeps sealed secrets, what each is bound to, and moving them all to the
current data key (``manage.py secrets reseal``).

Two columns hold secrets the server must read back: ``auth_user.totp_secret`` and
``oauth_signing_key.private_jwk``. Both are sealed (:mod:`platform_core.auth.sealing`)
with a context naming their row, so a value copied into another row does not open.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from platform_core.auth.schema import SigningKeyRow, UserRow
from platform_core.auth.sealing import Sealer
from platform_core.db.engine import write_transaction

_USERS = UserRow.__table__
_KEYS = SigningKeyRow.__table__


def totp_context(user_id: str) -> str:
    """What a user's sealed TOTP secret is bound to."""
    return f"totp:{user_id}"


def signing_key_context(kid: str) -> str:
    """What a signing key's sealed private part is bound to."""
    return f"signing-key:{kid}"


_PLACES: tuple[tuple[str, sa.Column[str], sa.Column[str], Callable[[str], str]], ...] = (
    ("totp_secrets", _USERS.c.id, _USERS.c.totp_secret, totp_context),
    ("signing_keys", _KEYS.c.kid, _KEYS.c.private_jwk, signing_key_context),
)
"""Each kind of sealed secret: its name in reports, its row key, its column, its context."""


def reseal_all(db: Engine, sealer: Sealer) -> dict[str, int]:
    """Seal every stored secret that is plaintext (stored before sealing existed) or sealed
    with an older data key, with the current key; returns how many of each kind changed.

    One transaction, so a failure (an old key missing from ``data_keys``) changes nothing;
    running it again changes nothing more."""
    changed = {}
    with write_transaction(db) as conn:
        for name, key, column, context_of in _PLACES:
            changed[name] = 0
            rows = conn.execute(sa.select(key, column).where(column.is_not(None))).all()
            for row_key, stored in rows:
                if not sealer.needs_reseal(stored):
                    continue
                context = context_of(row_key)
                resealed = sealer.seal(sealer.unseal(stored, context=context), context=context)
                conn.execute(
                    sa.update(column.table).where(key == row_key).values({column: resealed})
                )
                changed[name] += 1
    return changed
