"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text, which sorts and compares
    correctly because every value is converted to UTC first.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not allowed; use timezone-aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ResourceJSON(sa.TypeDecorator[str]):
    """Resource JSON, stored and returned as the exact text Fireside wrote.

    Text, not ``jsonb``, on PostgreSQL too (a deliberate departure from DESIGN.md, see
    docs/architecture.md): ``jsonb`` would reorder keys (``resourceType`` no longer first) and
    re-render whitespace, so the stored content would not be the client's; it would also cost
    a parse on every write and a render on every read. Search never looks inside this column
    (the ``fhir_ix_*`` tables answer it), so nothing is lost. Medplum and HAPI store text too.
    """

    impl = sa.Text
    cache_ok = True


BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""An auto-incrementing 64-bit key (SQLite only auto-increments INTEGER PRIMARY KEY)."""


class ExactDecimal(sa.TypeDecorator[Decimal]):
    """A decimal compared exactly on both backends (search-index numbers and quantities).

    PostgreSQL stores ``numeric``. SQLite has no decimal type: a ``NUMERIC`` column keeps
    binary doubles, so values on a precision boundary (``1.45`` as ``(1.445 + 1.455) / 2``)
    compared differently than on PostgreSQL. On SQLite the value is stored as a text key whose
    byte order is the numeric order (:func:`decimal_key`), so ``=``, ``<``, ``min``/``max`` and
    ``ORDER BY`` are exact; arithmetic goes through :func:`decimal_mid_key` (registered on every
    SQLite connection). The keys start with a letter, so SQLite's NUMERIC affinity leaves them
    text.
    """

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String())
        return dialect.type_descriptor(sa.Numeric())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return decimal_key(value if isinstance(value, Decimal) else Decimal(str(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite" and isinstance(value, str):
            return decimal_from_key(value)
        return value if isinstance(value, Decimal) else Decimal(str(value))


_BIAS = 50_000
_MAX_FIELD = 99_999
"""Decimal exponents are kept within +-50,000 (beyond that a key saturates)."""


def decimal_key(value: Decimal) -> str:
    """A text key whose byte order is the numeric order of exact decimals.

    Zero is ``O``. A positive number ``0.d1d2... x 10^E`` is ``P``, then ``E`` + 50,000 in five
    digits, then its significant digits (no trailing zeros). A negative number is ``N``, then
    the complement of that exponent field, then the nines' complement of its digits and ``~``
    (so a longer, hence larger in magnitude, number sorts first). ``1.50`` and ``1.5`` have
    the same key: the key is of the value, not of its written precision.
    """
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    if value.is_zero():
        return "O"
    sign, digits, _ = value.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    field = min(max(value.adjusted() + 1 + _BIAS, 0), _MAX_FIELD)
    if not sign:
        return f"P{field:05d}{text}"
    complement = "".join(str(9 - int(d)) for d in text)
    return f"N{_MAX_FIELD - field:05d}{complement}~"


def decimal_from_key(key: str) -> Decimal:
    """The decimal a :func:`decimal_key` stands for."""
    if key == "O":
        return Decimal(0)
    if key[0] == "P":
        field, text, sign = int(key[1:6]), key[6:], ""
    elif key[0] == "N" and key.endswith("~"):
        field = _MAX_FIELD - int(key[1:6])
        text = "".join(str(9 - int(d)) for d in key[6:-1])
        sign = "-"
    else:
        raise ValueError(f"not a decimal key: {key!r}")
    exponent = field - _BIAS - len(text)
    return Decimal(f"{sign}{text}E{exponent}")


def decimal_mid_key(low: str | None, high: str | None) -> str | None:
    """SQLite function ``fireside_decimal_mid(low, high)``: the key of ``(low + high) / 2``,
    computed exactly (NULL when either is NULL)."""
    if low is None or high is None:
        return None
    a, b = decimal_from_key(low), decimal_from_key(high)
    with localcontext() as ctx:
        # A sum of two decimals halved needs at most one digit more than the longer of them
        # written at the smaller exponent.
        ctx.prec = max(28, _span(a, b) + 2)
        return decimal_key((a + b) / 2)


def _span(a: Decimal, b: Decimal) -> int:
    exps = [d.as_tuple().exponent for d in (a, b) if not d.is_zero()]
    if not exps:
        return 1
    low = min(int(e) for e in exps)
    high = max(d.adjusted() for d in (a, b) if not d.is_zero())
    return min(high - low + 2, 10_000)


class DecimalMid(sa.sql.expression.FunctionElement[Decimal]):
    """``(low + high) / 2`` of two :class:`ExactDecimal` columns, exact on both backends:
    plain arithmetic on PostgreSQL's ``numeric``, ``fireside_decimal_mid`` on SQLite."""

    type = ExactDecimal()
    name = "decimal_mid"
    inherit_cache = True


@compiles(DecimalMid)
def _decimal_mid_default(element: DecimalMid, compiler: Any, **kw: Any) -> str:
    low, high = list(element.clauses)
    return f"(({compiler.process(low, **kw)} + {compiler.process(high, **kw)}) / 2)"


@compiles(DecimalMid, "sqlite")
def _decimal_mid_sqlite(element: DecimalMid, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_DECIMAL_MID}({compiler.process(element.clauses, **kw)})"


SQLITE_DECIMAL_MID = "fireside_decimal_mid"
"""The SQLite function :func:`decimal_mid_key` is registered as (see ``db/engine.py``)."""
