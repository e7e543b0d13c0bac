"""The FHIR storage schema.

Three families of tables (see docs/architecture.md):

* ``fhir_resource`` holds the current version of every resource (one row per type and id), and
  ``fhir_resource_version`` every version ever written, deletes included (soft delete: a
  version with ``deleted`` set and no content). Both carry the resource JSON as the client
  sent it, plus the server-owned ``meta.versionId`` and ``meta.lastUpdated``.
* ``fhir_ix_*`` are the search index, one narrow table per search-parameter type, keyed by
  the resource's surrogate ``rid`` and written in the same transaction as the resource.
* ``fhir_match_key`` makes conditional create race-free: its primary key is a hash of the
  normalised match URL, so two concurrent creates for the same condition cannot both commit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from platform_core.db.types import BigIntPK, ExactDecimal, ResourceJSON, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every core table."""

    metadata = sa.MetaData(naming_convention=NAMING)


class ResourceRow(Base):
    """The current version of one resource."""

    __tablename__ = "fhir_resource"

    rid: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(sa.String(64))
    id: Mapped[str] = mapped_column(sa.String(64))
    version_id: Mapped[int] = mapped_column(sa.Integer)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    content: Mapped[str | None] = mapped_column(ResourceJSON, nullable=True)

    __table_args__ = (
        sa.UniqueConstraint("resource_type", "id"),
        sa.Index("ix_fhir_resource_type_updated", "resource_type", "last_updated"),
    )


class ResourceVersionRow(Base):
    """One version of a resource, kept forever (history, vread, audit)."""

    __tablename__ = "fhir_resource_version"

    rid: Mapped[int] = mapped_column(
        sa.ForeignKey("fhir_resource.rid", ondelete="CASCADE"), primary_key=True
    )
    version_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    resource_type: Mapped[str] = mapped_column(sa.String(64))
    id: Mapped[str] = mapped_column(sa.String(64))
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(sa.String(8))
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    content: Mapped[str | None] = mapped_column(ResourceJSON, nullable=True)

    __table_args__ = (
        sa.Index("ix_fhir_version_type_updated", "resource_type", "last_updated"),
        sa.Index("ix_fhir_version_updated", "last_updated"),
    )


class MatchKeyRow(Base):
    """Claims a conditional-create match URL while a create for it commits."""

    __tablename__ = "fhir_match_key"

    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    resource_type: Mapped[str] = mapped_column(sa.String(64))
    match_url: Mapped[str] = mapped_column(sa.Text)
    rid: Mapped[int] = mapped_column(sa.ForeignKey("fhir_resource.rid", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_fhir_match_key_rid", "rid"),)


class SearchParamRow(Base):
    """A custom SearchParameter and the state of its (re)index."""

    __tablename__ = "fhir_search_param"

    resource_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[str] = mapped_column(sa.String(20))
    expression: Mapped[str] = mapped_column(sa.Text)
    bases: Mapped[str] = mapped_column(sa.Text)
    """Space-separated resource types."""
    targets: Mapped[str] = mapped_column(sa.Text, default="")
    components: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """A composite's components: JSON ``[[type, expression], ...]`` (None for other types)."""
    status: Mapped[str] = mapped_column(sa.String(20))
    """``reindexing``, ``active``, ``failed`` or ``retired``."""
    generation: Mapped[int] = mapped_column(sa.Integer, default=1)
    """Bumped by every change of the SearchParameter; a reindex only works on its own."""
    cursor_rid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    processed: Mapped[int] = mapped_column(sa.Integer, default=0)
    total: Mapped[int] = mapped_column(sa.Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _index_table(
    name: str, *columns: sa.Column[object], indexes: list[list[str] | tuple[str, list[str]]]
) -> sa.Table:
    """A search-index table: ``rid`` and ``param`` plus the type's own value columns."""
    table = sa.Table(
        name,
        Base.metadata,
        sa.Column(
            "rid",
            sa.ForeignKey("fhir_resource.rid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("param", sa.String(100), nullable=False),
        *columns,
    )
    sa.Index(f"ix_{name}_rid", table.c.rid)
    for spec in indexes:
        # A (name, columns) pair names an index whose default name would pass 63 characters.
        index_name, cols = (
            spec if isinstance(spec, tuple) else (f"ix_{name}_{'_'.join(spec)}", spec)
        )
        sa.Index(index_name, *(table.c[c] for c in cols))
    return table


token_index = _index_table(
    "fhir_ix_token",
    sa.Column("system", sa.String(512), nullable=True),
    sa.Column("code", sa.String(512), nullable=True),
    sa.Column("text", sa.String(512), nullable=True),
    indexes=[["resource_type", "param", "code", "system", "rid"]],
)
"""Token values: (system, code) of Coding, Identifier, ContactPoint, code, boolean..."""

string_index = _index_table(
    "fhir_ix_string",
    sa.Column("value_norm", sa.String(512), nullable=False),
    sa.Column("value_exact", sa.String(512), nullable=False),
    indexes=[["resource_type", "param", "value_exact"]],
)
# Prefix matches (LIKE 'abc%') use a B-tree only in byte order: varchar_pattern_ops on
# PostgreSQL, whatever the database collation (C.UTF-8 is not "C" to PostgreSQL 15).
sa.Index(
    "ix_fhir_ix_string_prefix",
    string_index.c.resource_type,
    string_index.c.param,
    string_index.c.value_norm,
    string_index.c.rid,
    postgresql_ops={"value_norm": "varchar_pattern_ops"},
)
"""String values, case- and accent-folded for the default starts-with match, and exact."""

date_index = _index_table(
    "fhir_ix_date",
    sa.Column("low", UTCDateTime, nullable=True),
    sa.Column("high", UTCDateTime, nullable=True),
    indexes=[["resource_type", "param", "low", "high", "rid"], ["resource_type", "param", "high"]],
)
"""Dates as the [low, high] instant range their precision implies (open ends are NULL)."""

number_index = _index_table(
    "fhir_ix_number",
    sa.Column("low", ExactDecimal, nullable=True),
    sa.Column("high", ExactDecimal, nullable=True),
    indexes=[["resource_type", "param", "low"]],
)
"""Numbers as the range their written precision implies (exact decimals on both backends,
see :class:`~platform_core.db.types.ExactDecimal`)."""

quantity_index = _index_table(
    "fhir_ix_quantity",
    sa.Column("system", sa.String(512), nullable=True),
    sa.Column("code", sa.String(256), nullable=True),
    sa.Column("low", ExactDecimal, nullable=True),
    sa.Column("high", ExactDecimal, nullable=True),
    indexes=[["resource_type", "param", "code", "low"]],
)
"""Quantities: value range plus unit system and code."""

reference_index = _index_table(
    "fhir_ix_reference",
    sa.Column("target_type", sa.String(64), nullable=True),
    sa.Column("target_id", sa.String(64), nullable=True),
    sa.Column("url", sa.String(1024), nullable=True),
    indexes=[
        (
            "ix_fhir_ix_reference_type_param_target_rid",
            ["resource_type", "param", "target_id", "target_type", "rid"],
        )
    ],
)
"""References, local ones split into target type and id, others kept as URL."""

uri_index = _index_table(
    "fhir_ix_uri",
    sa.Column("uri", sa.String(1024), nullable=False),
    indexes=[["resource_type", "param", "uri"]],
)
"""uri, url and canonical values."""

composite_index = _index_table(
    "fhir_ix_composite",
    sa.Column("c0_system", sa.String(512), nullable=True),
    sa.Column("c0_code", sa.String(512), nullable=True),
    sa.Column("c1_system", sa.String(512), nullable=True),
    sa.Column("c1_code", sa.String(512), nullable=True),
    sa.Column("c1_text", sa.String(512), nullable=True),
    sa.Column("c1_low", ExactDecimal, nullable=True),
    sa.Column("c1_high", ExactDecimal, nullable=True),
    sa.Column("c1_dlow", UTCDateTime, nullable=True),
    sa.Column("c1_dhigh", UTCDateTime, nullable=True),
    sa.Column("c2_low", ExactDecimal, nullable=True),
    sa.Column("c2_high", ExactDecimal, nullable=True),
    indexes=[["resource_type", "param", "c0_code", "c1_code"]],
)
"""Composite values: the first component is a token (or a reference as ``Type/id``), the
second a token, quantity, number, date or string, the optional third a number (the only
shapes R4 defines)."""

position_index = _index_table(
    "fhir_ix_position",
    sa.Column("latitude", sa.Numeric, nullable=False),
    sa.Column("longitude", sa.Numeric, nullable=False),
    indexes=[["resource_type", "param", "latitude", "longitude"]],
)
"""Geographic positions (Location ``near``), WGS84 degrees."""

INDEX_TABLES: dict[str, sa.Table] = {
    "token": token_index,
    "string": string_index,
    "date": date_index,
    "number": number_index,
    "quantity": quantity_index,
    "reference": reference_index,
    "uri": uri_index,
    "composite": composite_index,
    "special": position_index,
}
"""Index table per search-parameter type (R4's only indexed ``special`` one is ``near``)."""

resource_table = ResourceRow.__table__
version_table = ResourceVersionRow.__table__
match_key_table = MatchKeyRow.__table__
search_param_table = SearchParamRow.__table__
