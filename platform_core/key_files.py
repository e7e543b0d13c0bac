"""Random keys a single-node install keeps in files under ``var/``.

Production sets its keys in the environment (the same value on every node). A developer's
machine or a single-node install gets a random key generated on first start and kept in a
file with mode 0600, so sessions and encrypted secrets survive a restart. Two processes
starting at once agree on one key: the file is published with ``os.link``, which fails if
another process got there first, and the loser reads the winner's key.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from platform_core.config import REPO_ROOT

SECRET_KEY_PATH = REPO_ROOT / "var" / "secret_key"
"""Signs browser sessions and CSRF tokens when ``secret_key`` is not set."""
DATA_KEY_PATH = REPO_ROOT / "var" / "data_key"
"""Encrypts secrets stored in the database when ``data_keys`` is not set."""


def new_data_key() -> str:
    """A fresh data key: 32 random bytes, unpadded base64url (the ``data_keys`` format)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def load_or_create_secret_key(path: Path = SECRET_KEY_PATH) -> str:
    """The session-signing key stored at ``path``, creating the file when it does not
    exist."""
    return load_or_create_key(path, lambda: secrets.token_hex(32))


def load_or_create_data_key(path: Path = DATA_KEY_PATH) -> str:
    """The data key stored at ``path``, creating the file when it does not exist."""
    return load_or_create_key(path, new_data_key)


def load_or_create_key(path: Path, make: Callable[[], str]) -> str:
    """The key stored at ``path``; when there is none, ``make()`` one and store it (mode
    0600), unless another process stored theirs first."""
    existing = _read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    key = make()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        # Atomic, and fails when another process published its key first: then use theirs.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    for _ in range(50):
        stored = _read(path)
        if stored:
            return stored
        time.sleep(0.01)  # pragma: no cover - another writer is mid-way
    raise RuntimeError(f"{path} exists but holds no key")  # pragma: no cover


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
