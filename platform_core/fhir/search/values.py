"""Index values: what one element value contributes to each search-parameter type's table.

Each converter takes a value reached by a parameter's path and yields the value columns of
its index rows (without ``rid``, ``resource_type`` and ``param``). Ranges follow FHIR's
precision rules: a date covers its whole precision (``2024-05`` is all of May), a decimal the
interval its written digits imply (``1.5`` is ``[1.45, 1.55)``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterator
from decimal import Decimal, localcontext
from typing import Any

from platform_core.fhir.instants import date_range

Row = dict[str, Any]

_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")
MAX_TEXT = 512


def clip(text: str | None, size: int = MAX_TEXT) -> str | None:
    """Cut text to the index column's size."""
    return text[:size] if isinstance(text, str) else None


def normalize(text: str) -> str:
    """Case- and accent-folded form used by the default string match (``Zoë`` -> ``zoe``)."""
    if len(text) <= _CACHED_TEXT:
        return _normalize_short(text)
    return _normalize(text)


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


_CACHED_TEXT = 64
"""Texts up to this long are folded once and remembered (displays, names and codes repeat
across resources: every generated Slot carries the same service display)."""
_normalize_short = functools.lru_cache(maxsize=4096)(_normalize)


def _folded(text: Any) -> str | None:
    return normalize(text)[:MAX_TEXT] if isinstance(text, str) else None


def token_rows(value: Any, base_url: str) -> Iterator[Row]:
    """(system, code, text) of a Coding, CodeableConcept, Identifier, ContactPoint, code or
    boolean."""
    if isinstance(value, bool):
        yield {"system": None, "code": "true" if value else "false", "text": None}
    elif isinstance(value, str):
        yield {"system": None, "code": clip(value), "text": None}
    elif isinstance(value, dict):
        if "coding" in value or ("text" in value and "value" not in value):
            # ``text`` (for ``:text``) is stored folded: each coding's display, and the
            # concept's own text on a row of its own.
            for coding in value.get("coding", []):
                if isinstance(coding, dict) and (coding.get("code") or coding.get("system")):
                    yield {
                        "system": clip(coding.get("system")),
                        "code": clip(coding.get("code")),
                        "text": _folded(coding.get("display")),
                    }
            if isinstance(value.get("text"), str):
                yield {"system": None, "code": None, "text": _folded(value["text"])}
        elif "code" in value:
            yield {
                "system": clip(value.get("system")),
                "code": clip(value.get("code")),
                "text": _folded(value.get("display")),
            }
        elif "value" in value:
            system = value.get("system")
            if isinstance(system, str) and system in _CONTACT_SYSTEMS:
                yield {"system": None, "code": clip(value["value"]), "text": None}
            else:
                text = (
                    value.get("type", {}).get("text")
                    if isinstance(value.get("type"), dict)
                    else None
                )
                yield {"system": clip(system), "code": clip(value["value"]), "text": _folded(text)}


def reference_rows(value: Any, base_url: str) -> Iterator[Row]:
    """Target type and id of a local reference; the URL of any other (canonical, absolute)."""
    ref = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(ref, str) or ref.startswith("#"):
        return
    url = ref
    if ref.startswith(base_url + "/"):
        ref = ref[len(base_url) + 1 :]
    parts = ref.split("/")
    if len(parts) >= 2 and "://" not in ref and parts[0][:1].isupper() and "|" not in ref:
        yield {"target_type": parts[0], "target_id": parts[1][:64], "url": url[:1024]}
    else:
        yield {"target_type": None, "target_id": None, "url": url.split("|", 1)[0][:1024]}


def string_rows(value: Any, base_url: str) -> Iterator[Row]:
    """Each searchable text of a string, HumanName or Address."""
    texts: list[str] = []
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):
        parts = (
            _ADDRESS_PARTS
            if "line" in value or "city" in value or "postalCode" in value
            else (_NAME_PARTS)
        )
        for part in parts:
            item = value.get(part)
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, list):
                texts.extend(x for x in item if isinstance(x, str))
        if "family" not in value and "given" not in value:
            for part in ("state", "country", "city", "postalCode", "district"):
                item = value.get(part)
                if isinstance(item, str) and item not in texts:
                    texts.append(item)
    for text in texts:
        yield {"value_norm": normalize(text)[:MAX_TEXT], "value_exact": text[:MAX_TEXT]}


def date_rows(value: Any, base_url: str) -> Iterator[Row]:
    """The [low, high) range of a date, dateTime, instant, Period or Timing (events and
    bounds)."""
    if isinstance(value, str):
        rng = date_range(value)
        if rng:
            yield {"low": rng[0], "high": rng[1]}
    elif isinstance(value, dict):
        if "start" in value or "end" in value:
            start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
            end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
            if start or end:
                yield {"low": start[0] if start else None, "high": end[1] if end else None}
        for event in value.get("event", []) if isinstance(value.get("event"), list) else []:
            yield from date_rows(event, base_url)
        repeat = value.get("repeat")
        if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
            yield from date_rows(repeat["boundsPeriod"], base_url)


def decimal_range(number: int | Decimal) -> tuple[Decimal, Decimal]:
    """The interval a written number stands for: ``1.5`` -> ``[1.45, 1.55]``; integers exact."""
    if isinstance(number, int):
        return Decimal(number), Decimal(number)
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= 0:
        return number, number
    half = Decimal(5).scaleb(exponent - 1)
    with localcontext(prec=len(number.as_tuple().digits) + 2):  # exact, however long
        return number - half, number + half


def number_rows(value: Any, base_url: str) -> Iterator[Row]:
    """A number (integer or decimal) as its precision range."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | Decimal):
        low, high = decimal_range(value)
        yield {"low": low, "high": high}


def quantity_rows(value: Any, base_url: str) -> Iterator[Row]:
    """A Quantity (or Money, or a SampledData origin): value range, system and code."""
    if not isinstance(value, dict):
        return
    number = value.get("value")
    if isinstance(number, bool) or not isinstance(number, int | Decimal):
        return
    low, high = decimal_range(number)
    code = value.get("code") or value.get("currency") or value.get("unit")
    system = value.get("system") or ("urn:iso:std:iso:4217" if "currency" in value else None)
    yield {"system": clip(system), "code": clip(code, 256), "low": low, "high": high}
    unit = value.get("unit")
    if unit and unit != code:
        yield {"system": None, "code": clip(unit, 256), "low": low, "high": high}


def uri_rows(value: Any, base_url: str) -> Iterator[Row]:
    """A uri, url or canonical (a canonical's ``|version`` is dropped)."""
    if isinstance(value, str):
        yield {"uri": value.split("|", 1)[0][:1024]}


def position_rows(value: Any, base_url: str) -> Iterator[Row]:
    """A Location.position (WGS84 latitude and longitude)."""
    if not isinstance(value, dict):
        return
    lat, lon = value.get("latitude"), value.get("longitude")
    numbers = all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in (lat, lon))
    if numbers:
        yield {"latitude": Decimal(lat), "longitude": Decimal(lon)}


CONVERTERS: dict[str, Callable[[Any, str], Iterator[Row]]] = {
    "token": token_rows,
    "reference": reference_rows,
    "string": string_rows,
    "date": date_rows,
    "number": number_rows,
    "quantity": quantity_rows,
    "uri": uri_rows,
    "special": position_rows,
}
"""Converter per search-parameter type (composites are built in :mod:`.composite`)."""
