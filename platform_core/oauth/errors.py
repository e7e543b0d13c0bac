"""Error helpers: OAuth error descriptions may only hold printable ASCII without ``"`` and
``\\`` (RFC 6749 §5.2; authlib raises ``ValueError`` otherwise), yet some quote what the
client sent."""

from __future__ import annotations

_ALLOWED = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


def safe_description(text: str, limit: int = 300) -> str:
    """``text`` with every character an error description may not carry replaced by ``?``,
    and cut to ``limit`` characters."""
    cleaned = "".join(c if c in _ALLOWED else "?" for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
