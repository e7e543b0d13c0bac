"""Database access: the engine factory, the schema and its Alembic migrations."""
