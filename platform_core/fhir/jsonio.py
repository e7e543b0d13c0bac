"""JSON in and out, keeping FHIR decimals exactly as written.

FHIR decimals carry their precision in their text (``1.50`` is not ``1.5``), so bodies are parsed
with :class:`decimal.Decimal` for every JSON number that has a fraction or exponent, and written
back with orjson, emitting each Decimal as its original text through ``orjson.Fragment``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _dup_check(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate property {key!r}")
            seen.add(key)
    return obj


def parse_json(body: bytes | str) -> Any:
    """Parse a request body; raise a 400 FhirError naming the position on malformed JSON.

    Duplicate property names and ``NaN``/``Infinity`` are rejected, as RFC 8259 and the FHIR
    JSON rules require.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_dup_check,
        )
    except UnicodeDecodeError as exc:
        raise FhirError.of(
            400, error_codes.MALFORMED_JSON, f"The body is not UTF-8: {exc.reason}"
        ) from None
    except json.JSONDecodeError as exc:
        raise FhirError.of(
            400,
            error_codes.MALFORMED_JSON,
            f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
        ) from None
    except ValueError as exc:
        raise FhirError.of(400, error_codes.MALFORMED_JSON, f"Malformed JSON: {exc}") from None


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(_decimal_text(obj))
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _decimal_text(value: Decimal) -> str:
    text = str(value)
    # str(Decimal) is valid JSON except for the special values, which parse_json never makes.
    return text


def dumps(obj: Any, *, pretty: bool = False) -> bytes:
    """Serialise to compact (or indented) JSON bytes, Decimals as written."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(obj, default=_default, option=option)


def loads_stored(text: str | bytes) -> Any:
    """Parse JSON that Fireside itself stored (trusted: no duplicate or constant checks)."""
    return json.loads(text, parse_float=Decimal)


def reformat(raw: bytes | str, *, pretty: bool) -> bytes:
    """Re-emit stored JSON text, compact or pretty, without losing decimal precision."""
    return dumps(loads_stored(raw), pretty=pretty)
