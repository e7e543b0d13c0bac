"""Alembic environment: runs the core migrations on the connection the caller hands over.

``platform_core.db.migrate`` passes an open connection in ``config.attributes["connection"]``,
so migrations run inside the app's own engine (and the tests' database).
"""

from __future__ import annotations

from alembic import context

from platform_core.db.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations on the provided connection, or one built from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
