"""Checking what callers send: the review body, the hiding reason, paging and ids.

Each refusal is a 400 ``Problem`` whose detail starts with the field's name and says what
to send instead; ``errors`` carries the same as ``{"json"|"query": {field: [message]}}``,
the shape webargs uses elsewhere in the API.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from platform_core.web.api import Problem
from plugins.reviews.schema import MAX_STARS, MAX_TEXT_CHARS, MIN_STARS

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_REASON_CHARS = 500
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
ALLOWED_CONTROLS = frozenset("\n\t")


@dataclass(frozen=True)
class NewReview:
    """A review body that passed the checks."""

    appointment_id: str
    stars: int
    text: str | None


def bad(field: str, message: str, location: str = "json") -> Problem:
    """A 400 naming ``field``."""
    return Problem(
        400, f"{field}: {message}", title="Bad Request", errors={location: {field: [message]}}
    )


def json_object(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """The body as a JSON object with only ``allowed`` members."""
    if not isinstance(body, dict):
        raise Problem(
            400, "Send a JSON object (Content-Type: application/json)", title="Bad Request"
        )
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad(unknown[0], f"is not a known field; send only {', '.join(sorted(allowed))}")
    return body


def new_review(body: Any) -> NewReview:
    """``{"appointment": id, "stars": 1-5, "text"?: str}``, checked."""
    data = json_object(body, frozenset({"appointment", "stars", "text"}))
    appointment = data.get("appointment")
    if appointment is None:
        raise bad("appointment", "is required: the id of the fulfilled Appointment to review")
    if not isinstance(appointment, str) or not FHIR_ID.fullmatch(appointment):
        raise bad(
            "appointment",
            "must be an Appointment id (1 to 64 letters, digits, '-' or '.'), such as \"a1b2\"",
        )
    stars = data.get("stars")
    if stars is None:
        raise bad("stars", f"is required: a whole number from {MIN_STARS} to {MAX_STARS}")
    # bool is an int subclass; "5" and 4.5 are not whole numbers either.
    if type(stars) is not int or not MIN_STARS <= stars <= MAX_STARS:
        raise bad(
            "stars",
            f"must be a whole number from {MIN_STARS} to {MAX_STARS} (a JSON integer), "
            f"not {stars!r}",
        )
    return NewReview(appointment, stars, review_text(data.get("text")))


def review_text(raw: Any) -> str | None:
    """Plain text with surrounding whitespace stripped; None for no or blank text."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise bad("text", "must be a string of plain text")
    text = raw.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise bad("text", f"is {len(text)} characters long; at most {MAX_TEXT_CHARS} are allowed")
    plain_text("text", text)
    return text or None


def plain_text(field: str, text: str) -> None:
    """Refuse control characters other than newline and tab (and lone surrogates)."""
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if (category == "Cc" and char not in ALLOWED_CONTROLS) or category == "Cs":
            raise bad(
                field,
                f"contains the control character U+{ord(char):04X} at position {position}; "
                "only newlines and tabs are allowed",
            )


def hide_reason(body: Any) -> str:
    """``{"reason": str}``: why an admin hides a review, required."""
    data = json_object(body, frozenset({"reason"}))
    raw = data.get("reason")
    if not isinstance(raw, str) or not raw.strip():
        raise bad("reason", "is required: say why the review is hidden")
    reason = raw.strip()
    if len(reason) > MAX_REASON_CHARS:
        raise bad(
            "reason", f"is {len(reason)} characters long; at most {MAX_REASON_CHARS} are allowed"
        )
    plain_text("reason", reason)
    return reason


def paging(args: Any) -> tuple[int, int]:
    """``limit`` (1 to 100, default 20) and ``offset`` (from 0) of the query string."""
    limit = _whole(args, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise bad("limit", f"must be from 1 to {MAX_LIMIT}", "query")
    offset = _whole(args, "offset", 0)
    return limit, offset


def _whole(args: Any, name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise bad(name, f"must be a whole number, not {raw!r}", "query")
    return int(raw)


def review_id(raw: str) -> str | None:
    """The canonical form of a review id, or None when it cannot be one (answered like an
    unknown review)."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None
