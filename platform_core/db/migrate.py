"""Apply the Alembic migrations to a database (``python manage.py migrate`` and the tests).

The core's revisions live in ``platform_core/migrations/versions``; a plugin that owns tables
adds a directory with a branch of its own through the ``register_migrations`` hook, and
``heads`` brings every branch up to date.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine, extra_locations: Iterable[str] = ()) -> Config:
    """An Alembic config pointing at the core migrations (plus the plugins' version
    directories ``extra_locations``) and at ``engine``'s database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Each directory once: Alembic loads a directory named twice twice, and warns.
    locations = list(dict.fromkeys([str(MIGRATIONS_DIR / "versions"), *map(str, extra_locations)]))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "heads", extra_locations: Iterable[str] = ()) -> None:
    """Bring the schema up to ``revision`` (every branch head by default)."""
    cfg = alembic_config(engine, extra_locations)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str, extra_locations: Iterable[str] = ()) -> None:
    """Take the schema down to ``revision``."""
    cfg = alembic_config(engine, extra_locations)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def migrate_core(core: Any) -> None:
    """Bring ``core``'s database up to date with the core's and every active plugin's
    migrations."""
    # hook: register_migrations
    upgrade(core.db, extra_locations=core.plugins.collect("register_migrations"))
