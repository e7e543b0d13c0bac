"""The key that signs browser sessions and CSRF tokens.

``settings.secret_key`` wins when set (production: the same value on every node, from the
environment). Otherwise a random key is generated once and kept in ``var/secret_key`` with
mode 0600, so sessions survive a restart of a single-node install. Two processes starting at
once agree on one key: the file is published with ``os.link``, which fails if another
process got there first, and the loser reads the winner's key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from platform_core.config import REPO_ROOT

DEFAULT_PATH = REPO_ROOT / "var" / "secret_key"


def load_or_create_secret_key(path: Path = DEFAULT_PATH) -> str:
    """The key stored at ``path``, creating the file (mode 0600) when it does not exist."""
    existing = _read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
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
