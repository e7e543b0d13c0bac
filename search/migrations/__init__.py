"""Alembic migrations of the global search's tables (branch ``search``)."""
