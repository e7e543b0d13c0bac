"""Encryption of the secrets Fireside keeps in its database: TOTP secrets and the private
token-signing keys.

Those values must be usable by the server, so they cannot be hashed like passwords or
refresh tokens; they are sealed with AES-256-GCM instead, under a data key that lives
outside the database (``data_keys``, from the environment; or ``var/data_key`` on a
single-node install). A leaked database or backup then gives no usable secret.

A sealed value reads ``fs1.<key id>.<base64url(nonce | ciphertext | tag)>``. The key id
(the first 8 hex digits of the key's SHA-256) picks the key that opens it, so keys can be
rotated: put a new key first in ``data_keys``, keep the old ones after it, and run
``manage.py secrets reseal``. Each value is bound to where it is stored (the ``context``,
such as ``totp:<user id>``), so a sealed value copied to another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "fs1"
_NONCE_BYTES = 12


class SealingError(Exception):
    """A stored secret that cannot be opened with the configured data keys, or a data key
    that is not valid."""


def _decode_key(text: str) -> bytes:
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise SealingError("a data key is not base64url") from exc
    if len(raw) != 32:
        raise SealingError(
            f"a data key must be 32 bytes (base64url, 43 characters); this one is {len(raw)}"
        )
    return raw


def key_id(key: bytes) -> str:
    """The id a sealed value names its key by."""
    return hashlib.sha256(key).hexdigest()[:8]


class Sealer:
    """Seals with the first data key; opens with any of them."""

    def __init__(self, keys: Iterable[str]) -> None:
        raw = [_decode_key(k) for k in keys if k.strip()]
        if not raw:
            raise SealingError("no data key is configured (data_keys / FIRESIDE_DATA_KEYS)")
        self._current_id = key_id(raw[0])
        self._ciphers = {key_id(k): AESGCM(k) for k in raw}
        self._current = self._ciphers[self._current_id]

    @property
    def current_key_id(self) -> str:
        """The id of the key new values are sealed with."""
        return self._current_id

    def seal(self, plaintext: str, *, context: str) -> str:
        """``plaintext`` encrypted with the current key and bound to ``context``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{PREFIX}.{self._current_id}.{body}"

    def unseal(self, stored: str, *, context: str) -> str:
        """The plaintext of a value :meth:`seal` made for ``context``. A value stored before
        sealing existed (no ``fs1.`` prefix) is returned as it is, until ``reseal`` runs."""
        if not is_sealed(stored):
            return stored
        _, kid, body = stored.split(".", 2)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SealingError(
                f"a stored secret was sealed with data key {kid}, which is not among the "
                "configured data_keys (FIRESIDE_DATA_KEYS)"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SealingError(f"a stored secret for {context} does not open") from exc
        return plain.decode()

    def needs_reseal(self, stored: str) -> bool:
        """Whether ``stored`` is plaintext or sealed with a key other than the current one."""
        return not is_sealed(stored) or stored.split(".", 2)[1] != self._current_id


def is_sealed(stored: str) -> bool:
    """Whether ``stored`` is a sealed value (rather than a legacy plaintext one)."""
    parts = stored.split(".", 2)
    return len(parts) == 3 and parts[0] == PREFIX and len(parts[1]) == 8
