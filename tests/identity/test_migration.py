"""Migration 0007 goes down and up again cleanly (on a database of its own)."""

from __future__ import annotations

import sqlalchemy as sa

from platform_core.db.migrate import downgrade, upgrade

TABLES = {"identity_token", "identity_session", "identity_totp_step"}


def test_0007_downgrades_and_upgrades(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        upgrade(engine)
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        downgrade(engine, "0006")
        names = set(sa.inspect(engine).get_table_names())
        assert not TABLES & names and "auth_user" in names
        upgrade(engine)
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_orm_tables_match_the_migration(db):
    from platform_core.identity.schema import OneTimeTokenRow, SessionRow, TotpStepRow

    inspector = sa.inspect(db)
    for row in (OneTimeTokenRow, SessionRow, TotpStepRow):
        table = row.__table__
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}
