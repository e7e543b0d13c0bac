"""The per-process memory of verified tokens (``KeyRing.decode``) never lets through a token
that a full check would refuse."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from joserfc import jws

from platform_core.auth import keys as keys_module
from platform_core.auth import tokens as tokens_module
from platform_core.auth.keys import InvalidToken
from platform_core.auth.schema import SigningKeyRow
from platform_core.fhir.instants import now_utc
from tests.conftest import issue_token


def read(anonymous, pid: str, token: str) -> int:
    return anonymous.get(f"Patient/{pid}", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_changed_byte_is_checked_in_full_after_the_token_verified(app, anonymous, world):
    good = issue_token(app)
    assert read(anonymous, world["a"], good) == 200
    header, payload, signature = good.split(".")
    flipped = "A" if signature[5] != "A" else "B"
    for forged in (
        ".".join([header, payload, signature[:5] + flipped + signature[6:]]),
        ".".join(
            [header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature]
        ),
        good + "x",
    ):
        assert read(anonymous, world["a"], forged) == 401
    assert read(anonymous, world["a"], good) == 200


def test_a_remembered_token_still_expires(app, monkeypatch):
    tokens = app.extensions["fireside"].auth.tokens
    raw, _ = tokens.issue(client_id="c", scope="system/*.rs", ttl=60)
    assert tokens.verify(raw).client_id == "c"
    later = time.time() + 61
    monkeypatch.setattr(
        tokens_module, "time", SimpleNamespace(time=lambda: later, monotonic=time.monotonic)
    )
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(raw)


def test_a_remembered_token_is_refused_once_its_key_left_the_key_set(app, db, monkeypatch):
    keyring = app.extensions["fireside"].auth.keys
    raw = keyring.sign({"sub": "x"})
    assert keyring.decode(raw)["sub"] == "x"
    kid = jws.extract_compact(raw.encode()).protected["kid"]
    keyring.rotate()  # the old key keeps verifying until verify_until...
    assert keyring.decode(raw)["sub"] == "x"
    with db.begin() as conn:  # ...which has now passed
        conn.execute(
            sa.update(SigningKeyRow.__table__)
            .where(SigningKeyRow.kid == kid)
            .values(verify_until=now_utc() - timedelta(seconds=1))
        )
    monkeypatch.setattr(keys_module, "_REFRESH_S", 0.0)  # look at the database now
    with pytest.raises(InvalidToken):
        keyring.decode(raw)


def test_the_memory_is_bounded(app, monkeypatch):
    keyring = app.extensions["fireside"].auth.keys
    monkeypatch.setattr(keys_module, "_VERIFIED_MAX", 3)
    raws = [keyring.sign({"sub": str(i)}) for i in range(5)]
    for raw in raws:
        keyring.decode(raw)
    assert len(keyring._verified) <= 3
    assert raws[-1] in keyring._verified and raws[0] not in keyring._verified


def test_tokens_naming_unknown_keys_reload_the_key_set_at_most_once_a_second(app, monkeypatch):
    keyring = app.extensions["fireside"].auth.keys
    good = keyring.sign({"sub": "x"})
    keyring.decode(good)
    loads = []
    real_load = keyring._load
    monkeypatch.setattr(keyring, "_load", lambda: loads.append(1) or real_load())
    _, payload, signature = good.split(".")
    for i in range(20):
        forged_header = jws.extract_compact(good.encode()).protected | {"kid": f"forged-{i}"}
        forged = ".".join([_b64(forged_header), payload, signature])
        with pytest.raises(InvalidToken):
            keyring.decode(forged)
    assert len(loads) <= 1
    assert keyring.decode(good)["sub"] == "x"


def _b64(header: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
