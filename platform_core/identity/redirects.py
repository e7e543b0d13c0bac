"""Open-redirect protection for the ``next`` parameter of the login page.

Only a path on this server is followed: it must start with a single ``/``, contain no
backslash (browsers read ``/\\evil.com`` as ``//evil.com``), no control characters or
whitespace, and no scheme or host. Anything else falls back to the account page.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(value: str | None, default: str) -> str:
    """``value`` when it is a relative path on this server, else ``default``."""
    if not value or len(value) > 2048:
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
