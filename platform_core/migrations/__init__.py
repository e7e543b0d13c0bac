"""Alembic migrations of the core schema (branch ``core``)."""
