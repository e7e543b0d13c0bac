"""Turning an event into a message: Jinja2 templates per language, event and channel, with
times in the reader's time zone and money in their language's format.

Templates live in ``templates/<lang>/<event>.<channel>.j2``; a language without a template
for an event falls back to ``en``. An email template's first line is ``Subject: ...``, a
push template's ``Title: ...``; the rest is the body. SMS and push bodies are short.

The output is plain text, so autoescaping is off; payload values still cannot change a
message's shape: every value printed goes through :func:`_plain`, which turns control
characters (line breaks included) into spaces, so a name or a reason cannot forge a subject
line or add lines. Values are data, never template code (Jinja does not evaluate them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from plugins.notifications.catalog import EMAIL, FALLBACK_LANGUAGE, LANGUAGES, PUSH

TEMPLATES = Path(__file__).resolve().parent / "templates"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
SMS_MAX_CHARS = 480
"""An SMS body is cut to this many characters (three concatenated messages)."""


@dataclass(frozen=True)
class Rendered:
    """A message ready for a channel."""

    title: str | None
    """The email subject or the push title; None for SMS."""
    body: str


def _plain(value: Any) -> str:
    """How a value is printed: None as nothing, control characters as one space."""
    if value is None:
        return ""
    return _CONTROL.sub(" ", str(value))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment (shared: templates are read once and cached)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,
        finalize=_plain,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def template_name(language: str, event: str, channel: str) -> str:
    return f"{language}/{event}.{channel}.j2"


def render(event: str, channel: str, language: str, variables: dict[str, Any]) -> Rendered:
    """The message for ``event`` on ``channel`` in ``language`` (or ``en``)."""
    env = environment()
    names = [template_name(language, event, channel)]
    if language != FALLBACK_LANGUAGE:
        names.append(template_name(FALLBACK_LANGUAGE, event, channel))
    template = env.select_template(names)
    text = template.render(language=language, **variables).strip()
    title: str | None = None
    if channel in (EMAIL, PUSH):
        first, _, rest = text.partition("\n")
        label = "Subject:" if channel == EMAIL else "Title:"
        if not first.startswith(label):
            raise ValueError(f"{template.name}: the first line must start with {label!r}")
        title, text = first[len(label) :].strip(), rest.strip()
    body = _tidy(text)
    if channel not in (EMAIL, PUSH) and len(body) > SMS_MAX_CHARS:
        body = body[: SMS_MAX_CHARS - 1].rstrip() + "…"
    return Rendered(title, body + "\n" if channel == EMAIL else body)


def _tidy(text: str) -> str:
    """Trailing spaces off every line, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out)


# --- times ----------------------------------------------------------------------------------

_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
}
_FR_SHORT_MONTHS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def parse_instant(text: Any) -> datetime | None:
    """An ISO 8601 instant with its offset (``Z`` too), or None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _offset(local: datetime) -> str:
    delta = local.utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _zone_label(local: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """``(long, short)`` names of the zone at that instant: ``Africa/Lagos, UTC+01:00`` and
    ``WAT`` (the offset when the zone has no lettered abbreviation)."""
    offset = _offset(local)
    if zone.key == "UTC":
        return "UTC", "UTC"
    abbreviation = local.tzname() or ""
    short = abbreviation if abbreviation.isalpha() else offset
    return f"{zone.key}, {offset}", short


def format_when(value: datetime | None, zone: ZoneInfo, language: str) -> tuple[str, str]:
    """``(long, short)`` renderings of an instant in ``zone``: "Tuesday 1 December 2026 at
    10:00 (Africa/Lagos, UTC+01:00)" and "1 Dec 10:00 WAT" (French: "mardi 1 décembre 2026 à
    10h00 (...)", "1 déc. 10h00 WAT"). Empty strings for None."""
    if value is None:
        return "", ""
    lang = language if language in LANGUAGES else FALLBACK_LANGUAGE
    local = value.astimezone(zone)
    long_zone, short_zone = _zone_label(local, zone)
    day, month = _DAYS[lang][local.weekday()], _MONTHS[lang][local.month - 1]
    if lang == "fr":
        clock = f"{local.hour:02d}h{local.minute:02d}"
        short_month = _FR_SHORT_MONTHS[local.month - 1]
        return (
            f"{day} {local.day} {month} {local.year} à {clock} ({long_zone})",
            f"{local.day} {short_month} {clock} {short_zone}",
        )
    clock = f"{local.hour:02d}:{local.minute:02d}"
    return (
        f"{day} {local.day} {month} {local.year} at {clock} ({long_zone})",
        f"{local.day} {month[:3]} {clock} {short_zone}",
    )


# --- money ----------------------------------------------------------------------------------

_ZERO_DECIMALS = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMALS = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])


def format_money(money: Any, language: str) -> str:
    """``{"amount": 1500000, "currency": "NGN"}`` as "NGN 15,000.00" (en) or
    "15 000,00 NGN" (fr); "" when absent or malformed."""
    if not isinstance(money, dict):
        return ""
    amount, currency = money.get("amount"), money.get("currency")
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str):
        return ""
    digits = 0 if currency in _ZERO_DECIMALS else 3 if currency in _THREE_DECIMALS else 2
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    grouped = f"{whole:,}"
    if language == "fr":
        grouped = grouped.replace(",", " ")
        number = f"{grouped},{fraction:0{digits}d}" if digits else grouped
        return f"{sign}{number} {currency}"
    number = f"{grouped}.{fraction:0{digits}d}" if digits else grouped
    return f"{currency} {sign}{number}"


# --- names ----------------------------------------------------------------------------------


def human_name(resource: dict[str, Any] | None) -> str:
    """A person's display name from a FHIR Patient or Practitioner ("Dr Amina Bello")."""
    if not resource:
        return ""
    names = resource.get("name") or []
    if not names:
        return ""
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if name.get("text"):
        return str(name["text"])
    parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
    return " ".join(str(p) for p in parts if p)
