"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


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
