"""Secrets at rest: TOTP secrets and private signing keys are stored sealed with the data
key, bound to their row; keys rotate; ``manage.py secrets`` makes keys and reseals."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core.auth.schema import SigningKeyRow, UserRow
from platform_core.auth.sealing import Sealer, SealingError, is_sealed
from platform_core.auth.stored_secrets import reseal_all, totp_context
from platform_core.cli import secrets_command
from platform_core.identity import totp
from platform_core.identity.users import create_user
from platform_core.key_files import load_or_create_data_key, new_data_key

_USERS = UserRow.__table__
_KEYS = SigningKeyRow.__table__


class TestSealer:
    def test_a_sealed_value_opens_only_in_its_own_context(self) -> None:
        sealer = Sealer([new_data_key()])
        sealed = sealer.seal("JBSWY3DPEHPK3PXP", context="totp:u1")
        assert is_sealed(sealed) and "JBSWY3DPEHPK3PXP" not in sealed
        assert sealer.unseal(sealed, context="totp:u1") == "JBSWY3DPEHPK3PXP"
        with pytest.raises(SealingError, match="does not open"):
            sealer.unseal(sealed, context="totp:u2")  # copied to another user's row

    def test_the_same_secret_seals_differently_each_time(self) -> None:
        sealer = Sealer([new_data_key()])
        assert sealer.seal("x", context="c") != sealer.seal("x", context="c")

    def test_a_tampered_value_does_not_open(self) -> None:
        sealer = Sealer([new_data_key()])
        sealed = sealer.seal("secret", context="c")
        flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        with pytest.raises(SealingError):
            sealer.unseal(flipped, context="c")

    def test_rotation_opens_old_values_and_seals_with_the_new_key(self) -> None:
        old, new = new_data_key(), new_data_key()
        before = Sealer([old]).seal("secret", context="c")
        rotated = Sealer([new, old])
        assert rotated.unseal(before, context="c") == "secret"
        assert rotated.needs_reseal(before)
        assert not rotated.needs_reseal(rotated.seal("secret", context="c"))

    def test_a_value_whose_key_is_gone_says_which_key_is_missing(self) -> None:
        sealed = Sealer([new_data_key()]).seal("secret", context="c")
        kid = sealed.split(".")[1]
        with pytest.raises(SealingError, match=f"data key {kid}.*FIRESIDE_DATA_KEYS"):
            Sealer([new_data_key()]).unseal(sealed, context="c")

    def test_legacy_plaintext_still_opens_and_needs_a_reseal(self) -> None:
        sealer = Sealer([new_data_key()])
        assert sealer.unseal("JBSWY3DPEHPK3PXP", context="c") == "JBSWY3DPEHPK3PXP"
        assert sealer.needs_reseal("JBSWY3DPEHPK3PXP")

    @pytest.mark.parametrize(
        ("keys", "message"),
        [([], "no data key"), (["c2hvcnQ"], "32 bytes"), (["%%%%"], "base64url")],
    )
    def test_bad_keys_are_refused_with_a_reason(self, keys: list[str], message: str) -> None:
        with pytest.raises(SealingError, match=message):
            Sealer(keys)


# --- in the database ------------------------------------------------------------------------
def _secret_of(db: sa.Engine, user_id: str) -> str:
    with db.connect() as conn:
        return conn.execute(
            sa.select(_USERS.c.totp_secret).where(_USERS.c.id == user_id)
        ).scalar_one()


@pytest.fixture
def core(app: Flask) -> Any:
    return app.extensions["fireside"]


def test_totp_secrets_are_stored_sealed_and_still_work(core: Any, db: sa.Engine) -> None:
    user = create_user(
        db, email="ada@example.org", password="correct horse battery", role="patient"
    )
    secret = totp.new_secret()
    totp.enable(db, core.auth.sealer, user.id, secret, pyotp.TOTP(secret).now())
    stored = _secret_of(db, user.id)
    assert is_sealed(stored) and secret not in stored
    # The enrolment used the current step; the next one is accepted (one step of drift).
    next_code = pyotp.TOTP(secret).at(time.time() + totp.INTERVAL_S)
    assert totp.verify_login_code(db, core.auth.sealer, user.id, next_code)


def test_a_totp_secret_moved_to_another_account_does_not_open(core: Any, db: sa.Engine) -> None:
    ada = create_user(db, email="ada@example.org", password="correct horse battery", role="patient")
    eve = create_user(db, email="eve@example.org", password="correct horse battery", role="patient")
    secret = totp.new_secret()
    totp.enable(db, core.auth.sealer, ada.id, secret, pyotp.TOTP(secret).now())
    with db.begin() as conn:
        conn.execute(
            sa.update(_USERS)
            .where(_USERS.c.id == eve.id)
            .values(totp_secret=_secret_of(db, ada.id))
        )
    with pytest.raises(SealingError):
        totp.verify_login_code(db, core.auth.sealer, eve.id, pyotp.TOTP(secret).now())


def test_private_signing_keys_are_stored_sealed(core: Any, db: sa.Engine) -> None:
    core.auth.keys.jwks()  # makes the first key when there is none
    with db.connect() as conn:
        rows = conn.execute(sa.select(_KEYS.c.kid, _KEYS.c.private_jwk)).all()
    assert rows
    for kid, stored in rows:
        assert is_sealed(stored) and '"d"' not in stored
        opened = json.loads(core.auth.sealer.unseal(stored, context=f"signing-key:{kid}"))
        assert opened["kid"] == kid and "d" in opened
    # Tokens signed with it verify.
    raw, _ = core.auth.tokens.issue(client_id="app", scope="system/*.rs")
    assert core.auth.tokens.verify(raw).client_id == "app"


# --- resealing ---------------------------------------------------------------------------------
def _run(settings: Any, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    secrets_command.add_parser(sub)
    out, err = io.StringIO(), io.StringIO()
    status = secrets_command.run(
        parser.parse_args(["secrets", *argv]), settings=settings, stdout=out, stderr=err
    )
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def rotated_key(core: Any) -> Iterator[str]:
    """A new data key; afterwards every secret is resealed back with the app's own key."""
    current = load_or_create_data_key()
    new = new_data_key()
    yield new
    reseal_all(core.db, Sealer([current, new]))


def test_new_key_prints_a_usable_key(core: Any) -> None:
    status, out, _ = _run(core.settings, "new-key")
    assert status == 0
    Sealer([out.strip()])  # a valid key


def test_reseal_moves_legacy_and_old_key_secrets_to_the_first_key(
    core: Any, db: sa.Engine, rotated_key: str
) -> None:
    user = create_user(
        db, email="ada@example.org", password="correct horse battery", role="patient"
    )
    secret = totp.new_secret()
    with db.begin() as conn:  # as stored before sealing existed
        conn.execute(sa.update(_USERS).where(_USERS.c.id == user.id).values(totp_secret=secret))
    core.auth.keys.jwks()
    settings = dataclasses.replace(
        core.settings, data_keys=(rotated_key, load_or_create_data_key())
    )
    status, out, _ = _run(settings, "reseal")
    assert status == 0
    report = json.loads(out)
    new_sealer = Sealer([rotated_key])
    assert report["key_id"] == new_sealer.current_key_id
    assert report["resealed"]["totp_secrets"] == 1 and report["resealed"]["signing_keys"] >= 1
    stored = _secret_of(db, user.id)
    assert new_sealer.unseal(stored, context=totp_context(user.id)) == secret
    with db.connect() as conn:
        for _, sealed in conn.execute(sa.select(_KEYS.c.kid, _KEYS.c.private_jwk)):
            assert not new_sealer.needs_reseal(sealed)
    # A second run has nothing left to do.
    assert json.loads(_run(settings, "reseal")[1])["resealed"] == {
        "totp_secrets": 0,
        "signing_keys": 0,
    }


def test_reseal_without_the_old_key_changes_nothing_and_says_why(core: Any, db: sa.Engine) -> None:
    core.auth.keys.jwks()
    with db.connect() as conn:
        before = conn.execute(sa.select(_KEYS.c.kid, _KEYS.c.private_jwk)).all()
    settings = dataclasses.replace(core.settings, data_keys=(new_data_key(),))
    status, _, err = _run(settings, "reseal")
    assert status == 2 and "not among the configured data_keys" in err and "nothing" in err
    with db.connect() as conn:
        assert conn.execute(sa.select(_KEYS.c.kid, _KEYS.c.private_jwk)).all() == before
