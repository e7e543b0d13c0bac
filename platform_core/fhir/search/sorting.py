"""``_sort`` and keyset paging over sorted results.

A sort key per parameter is the smallest (ascending) or largest (descending) indexed value of
the resource, computed by a correlated subquery; resources without a value sort last. Pages
continue after the last row's (keys..., rid), so a deep page costs what the first does and
concurrent writes never shift a page. The cursor carries those values, encoded opaquely.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from platform_core.db.aliases import alias
from platform_core.db.schema import INDEX_TABLES, resource_table
from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.search.model import SearchParameterDef

R = resource_table.c

SORT_COLUMNS = {
    "string": ("value_norm", "value_norm"),
    "token": ("code", "code"),
    "date": ("low", "high"),
    "number": ("low", "high"),
    "quantity": ("low", "high"),
    "reference": ("target_id", "target_id"),
    "uri": ("uri", "uri"),
    "special": ("latitude", "latitude"),
}
"""Index column a sort reads, ascending and descending."""


def sort_expression(resource_type: str, param: SearchParameterDef, descending: bool) -> Any:
    """The sort key of ``param`` for the current resource row."""
    if param.code == "_id":
        return R.id
    if param.code == "_lastUpdated":
        return R.last_updated
    table = alias(INDEX_TABLES[param.type])
    column = table.c[SORT_COLUMNS[param.type][1 if descending else 0]]
    agg = sa.func.max(column) if descending else sa.func.min(column)
    return (
        sa.select(agg)
        .where(
            table.c.rid == R.rid,
            table.c.resource_type == resource_type,
            table.c.param == param.code,
        )
        .scalar_subquery()
    )


def order_by(keys: list[tuple[Any, bool]], *, backward: bool = False) -> list[Any]:
    """ORDER BY clauses: each key with NULLs last, then the surrogate key (all reversed when
    reading backward, for a ``previous`` page)."""
    clauses = []
    for expr, descending in keys:
        nulls = sa.case((expr.is_(None), 1), else_=0)
        clauses.append(nulls.desc() if backward else nulls.asc())
        ascending = descending if backward else not descending
        clauses.append(expr.asc() if ascending else expr.desc())
    clauses.append(R.rid.desc() if backward else R.rid.asc())
    return clauses


def after(keys: list[tuple[Any, bool]], values: list[Any], rid: int) -> Any:
    """Rows strictly after the row with sort ``values`` and ``rid`` (NULLs last)."""
    condition: Any = R.rid > rid
    for (expr, descending), value in reversed(list(zip(keys, values, strict=True))):
        if value is None:
            condition = sa.and_(expr.is_(None), condition)
        else:
            beyond = expr < value if descending else expr > value
            condition = sa.or_(beyond, expr.is_(None), sa.and_(expr == value, condition))
    return condition


def before(keys: list[tuple[Any, bool]], values: list[Any], rid: int) -> Any:
    """Rows strictly before the row with sort ``values`` and ``rid`` (NULLs last)."""
    condition: Any = R.rid < rid
    for (expr, descending), value in reversed(list(zip(keys, values, strict=True))):
        if value is None:
            condition = sa.or_(expr.is_not(None), sa.and_(expr.is_(None), condition))
        else:
            earlier = expr > value if descending else expr < value
            condition = sa.or_(earlier, sa.and_(expr == value, condition))
    return condition


def encode_cursor(values: list[Any], rid: int, *, backward: bool = False) -> str:
    """An opaque cursor: read after (or, ``backward``, before) the row with these sort values
    and rid."""
    payload = ["p" if backward else "n", *[_encode_value(v) for v in values], rid]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, n_keys: int) -> tuple[list[Any], int, bool]:
    """Inverse of :func:`encode_cursor` (values, rid, backward); 400 when not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(payload, list) or len(payload) != n_keys + 2:
            raise ValueError
        direction, *values, rid = payload
        if direction not in ("n", "p"):
            raise ValueError
        return [_decode_value(v) for v in values], int(rid), direction == "p"
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise FhirError.of(
            400, error_codes.INVALID_SEARCH_VALUE, "Invalid paging cursor", "_cursor"
        ) from None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "d" in value:
            return Decimal(value["d"])
        raise ValueError("unknown cursor value")
    return value
